"""20 members ask for their /mood chart at once: how long the event loop stalls, and how
long the last chart takes, drawn in the bot's picture workers against the way it was done
before (`asyncio.to_thread`), in the same run.

A ticker on the event loop sleeps 5 ms at a time and records how late each wake-up is: the
longest is the stall every other member's interaction would have seen. The workers are
started and warmed first, as the bot does at start; "threads" imports matplotlib once
before it is measured too, so both start warm.

    .venv/bin/python -m benchmarks.pictures
    .venv/bin/python -m benchmarks.pictures --members 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

from bot.services.checkins.chart import render_png
from bot.ui import pictures

TICK = 0.005


def points(days: int = 90) -> tuple[list[tuple[date, float]], date, date]:
    end = date(2026, 12, 1)
    start = end - timedelta(days=days - 1)
    return [(start + timedelta(days=i), 1 + (i * 7 % 5)) for i in range(days)], start, end


async def measure(
    name: str, draw: Callable[..., Awaitable[bytes]], members: int
) -> tuple[float, float, float]:
    """(longest stall, median stall, seconds until the last chart) for `members` at once."""
    late: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(TICK)
            late.append(time.perf_counter() - asked - TICK)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.1)
    began = time.perf_counter()
    charts = await asyncio.gather(*(draw(render_png, *points()) for _ in range(members)))
    took = time.perf_counter() - began
    stop.set()
    await ticking
    assert all(chart.startswith(b"\x89PNG") for chart in charts)
    return max(late), statistics.median(late), took


async def to_thread(render: Callable[..., bytes], *args: object) -> bytes:
    return await asyncio.to_thread(render, *args)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20)
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    pictures.warm()
    await pictures.draw(render_png, *points())  # wait until the workers are up and warm
    render_png(*points())  # and matplotlib imported here, for the threads
    for name, draw in (("workers", pictures.draw), ("threads", to_thread)):
        longest, median, took = await measure(name, draw, args.members)
        print(
            f"[{name}] {args.members} charts at once: event loop stalled at most "
            f"{longest * 1000:.1f} ms (median {median * 1000:.1f} ms); "
            f"last chart after {took:.2f} s"
        )


if __name__ == "__main__":
    asyncio.run(main())
