"""CPU-heavy work (pictures, the pairing of a large round) done away from the event loop.

Work done in a thread (`asyncio.to_thread`) still competes for the GIL with the event loop:
16 pictures at once stalled it for 510 ms, and the pairing of 300 members holds the GIL for
0.4 s (its matching is native code that never lets go of it). So such work
runs in a small pool of worker processes (WORKERS at a time, the rest waiting in its queue
without costing the event loop anything), started and warmed up once per process when the
bot starts, so the first member to ask is not the slow one.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

WORKERS = 2

T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None


def _start_worker(parent: int) -> None:
    """In each worker, once. It lets go of the bot's stdout and stderr (a supervisor reading
    them would otherwise wait for the workers too), leaves as soon as the bot is gone (even
    killed with SIGKILL, when nobody can tell it to), and warms up."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    threading.Thread(target=_leave_with, args=(parent,), daemon=True).start()
    _warm_up()


def _leave_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _warm_up() -> None:
    """Import matplotlib and draw a tiny figure (building the font cache on a machine's very
    first run), so the first member's picture is not the slow one; import the matching."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    import bot.matching  # noqa: F401  (rustworkx)

    figure = Figure(figsize=(1, 1), dpi=10)
    FigureCanvasAgg(figure)
    figure.add_subplot().set_title("warm")
    figure.canvas.draw()


def _ready() -> bool:
    return True


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # "spawn": a fresh interpreter, never a fork of the bot with its sockets and threads.
        _pool = ProcessPoolExecutor(
            max_workers=WORKERS,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
    return _pool


def warm() -> None:
    """Start the workers and warm them up, without waiting (at start; once per process)."""
    pool = _executor()
    for _ in range(WORKERS):
        pool.submit(_ready)


async def run(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` (a module-level function; arguments and result picklable) in a worker."""
    global _pool
    loop = asyncio.get_running_loop()
    pool = _executor()
    try:
        return await loop.run_in_executor(pool, work, *args)
    except BrokenProcessPool:  # a worker died (e.g. killed for memory): start afresh, once
        if _pool is pool:  # the first of the waiting requests to notice replaces it
            log.warning("the worker processes stopped; starting them again")
            _pool = None
            pool.shutdown(wait=False, cancel_futures=True)
        return await loop.run_in_executor(_executor(), work, *args)
