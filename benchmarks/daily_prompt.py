"""The burst Kinfolk makes itself: the daily prompt in one server of 50,000 members.

The bot runs in its own process, as `kinfolk run` builds it (the same process as
`benchmarks.interaction_latency`: `bot.runner.serve` plus a bare `/ping`), against the local
Discord stand-in in this process (roomy rate limits, so the stand-in's own limits are not what
is measured). The server has MEMBERS members in the stand-in and in the database (each with
participation rows; the PRESSERS who check in have agreed to check-ins and have a month of
check-ins behind them). Moderators set up `/setup escalation` and `/setup checkins` with a
daily prompt; the prompt's outbox row is then made due, and the bot posts it.

Then, from the moment the prompt appears, for WINDOW seconds:

- PRESSERS members press the prompt's *Check in*, arrivals front-loaded as people open
  Discord (a truncated exponential, time constant TAU: about a third of the presses in the
  first 8 s, a peak near PRESSERS / TAU a second), and each picks a mood 1.5-6 s after
  pressing (or as soon as the mood buttons appear, if they took longer), all within WINDOW;
- TALKS other members run `/talk`, spread evenly over the minute.

Each answer is timed from the stand-in dispatching INTERACTION_CREATE to the bot's first
callback (the span Discord allows 3 s for); a first callback that is a deferral ("one
moment") is counted. Checked afterwards: the press shows the mood buttons, the mood click
saved ("Saved: ..."), `/talk` offered its Cancel button (not "taking longer"), and each
`/talk`'s alert was posted in the alert channel (timed from the `/talk`'s dispatch). The
same schedule is first run with `/ping` for every event: the bare figures of the same run.

    .venv/bin/python -m benchmarks.daily_prompt                      # SQLite
    KINFOLK_BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m benchmarks.daily_prompt                  # and PostgreSQL
    .venv/bin/python -m benchmarks.daily_prompt --members 5000 --pressers 500   # quick

A run takes about 3 minutes per backend.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update

from benchmarks.interaction_latency import (
    ANSWER_TIMEOUT,
    DEADLINE,
    POSTGRES_ENV,
    bot_against_standin,
    give_consent,
    machine,
)
from bot.db.engine import Database
from bot.db.models import Checkin, MemberActivity, OutboxMessage
from bot.services.checkins.prompt import KIND_PROMPT
from tests.fakediscord import FakeDiscord, InteractionHandle, World
from tests.fakediscord.messages import StoredMessage

SEED = 2026
MEMBERS = 50_000
PRESSERS = 2_000
TALKS = 20
WINDOW = 60.0  # seconds: every press and mood, and every /talk, within this
TAU = 20.0  # seconds: the presses' arrival time constant
THINK = (1.5, 6.0)  # seconds from the mood buttons appearing to a mood picked
ALERT_LIMIT = 2.0  # seconds from a /talk to its alert posted
HISTORY_DAYS = 30
BATCH = 5_000
PRESS, MOOD, TALK = "press Check in", "mood click", "/talk"
STEPS = (PRESS, MOOD, TALK)


@dataclass(order=True)
class Event:
    at: float
    step: str = field(compare=False)
    member: int = field(compare=False)
    press: Event | None = field(default=None, compare=False)  # a mood's press
    handle: InteractionHandle | None = field(default=None, compare=False)
    opened: asyncio.Event = field(default_factory=asyncio.Event, compare=False)
    showed_moods: bool = field(default=False, compare=False)  # a press: the buttons came


def schedule(rng: random.Random, pressers: list[int], talkers: list[int]) -> list[Event]:
    events: list[Event] = []
    last_press = WINDOW - THINK[1]
    for member in pressers:
        u = rng.random()
        at = -TAU * math.log(1 - u * (1 - math.exp(-last_press / TAU)))
        press = Event(at, PRESS, member)
        events += [press, Event(at + rng.uniform(*THINK), MOOD, member, press=press)]
    events += [Event(rng.uniform(0, WINDOW), TALK, member) for member in talkers]
    return sorted(events)


@dataclass
class Step:
    backend: str
    step: str
    latencies: list[float] = field(default_factory=list)
    deferred: int = 0
    unanswered: int = 0
    wrong: int = 0
    example: str = ""

    def quantile(self, which: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[which - 1]

    @property
    def late(self) -> int:
        return sum(1 for value in self.latencies if value > DEADLINE) + self.unanswered


def component_ids(message: StoredMessage | None) -> list[str]:
    return message.custom_ids if message is not None else []


async def seed(url: str, guild_id: int, members: list[int], pressers: list[int]) -> None:
    """Participation for every member; a month of check-ins for those who check in."""
    db = Database(url)
    now = datetime.now(UTC)
    rng = random.Random(SEED + 1)
    try:
        activity = [
            {
                "guild_id": guild_id,
                "user_id": member,
                "first_seen_at": now - timedelta(days=200),
                "last_seen_at": now - timedelta(hours=rng.uniform(1, 24 * 10)),
            }
            for member in members
        ]
        today = now.date()
        checkins = [
            {
                "guild_id": guild_id,
                "user_id": member,
                "mood": rng.randint(1, 5),
                "local_day": today - timedelta(days=day),
                "created_at": datetime.combine(
                    today - timedelta(days=day), datetime.min.time(), UTC
                ),
            }
            for member in pressers
            for day in range(1, HISTORY_DAYS + 1)
            if rng.random() < 0.7
        ]
        for model, rows in ((MemberActivity, activity), (Checkin, checkins)):
            for start in range(0, len(rows), BATCH):
                async with db.engine.begin() as connection:
                    await connection.execute(insert(model.__table__), rows[start : start + BATCH])
    finally:
        await db.close()
    await give_consent(url, guild_id, pressers)


async def make_prompt_due(url: str) -> None:
    """The prompt is queued for its local time: bring it forward to now."""
    db = Database(url)
    try:
        async with db.session() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.kind == KIND_PROMPT, OutboxMessage.status == "pending")
                .values(due_at=datetime.now(UTC))
            )
    finally:
        await db.close()


@dataclass
class Burst:
    fake: FakeDiscord
    guild_id: int
    channel_id: int
    prompt: StoredMessage
    bare: bool

    async def fire(self, event: Event) -> None:
        fake, guild = self.fake, self.guild_id
        if self.bare:
            event.handle = await fake.invoke(guild, self.channel_id, event.member, "ping")
        elif event.step == PRESS:
            event.handle = await fake.click(self.prompt, f"checkin:start:{guild}", event.member)
        elif event.step == TALK:
            event.handle = await fake.invoke(
                guild, self.channel_id, event.member, "talk", options={"feeling": "struggling"}
            )
        else:
            press = event.press
            assert press is not None
            await press.opened.wait()  # the member can't pick before the buttons appear
            picker = press.handle.record.original if press.handle else None
            if MOOD_ID not in " ".join(component_ids(picker)):
                return  # the press never showed the mood buttons: counted there
            mood = 1 + event.member % 5
            event.handle = await fake.click(picker, f"checkin:mood:{guild}:{mood}", event.member)
        if event.step == PRESS and not self.bare:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.opened(event.handle), ANSWER_TIMEOUT)
                event.showed_moods = True
        event.opened.set()

    async def opened(self, handle: InteractionHandle) -> None:
        """Until the mood buttons show (after a deferral, the follow-up brings them)."""
        await handle.record.responded.wait()
        while MOOD_ID not in " ".join(component_ids(handle.record.original)):
            handle.record.original_edited.clear()
            await handle.record.original_edited.wait()

    async def run(self, events: list[Event]) -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        tasks = []
        for event in events:
            delay = started + event.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.fire(event)))
        await asyncio.gather(*tasks)
        deadline = loop.time() + ANSWER_TIMEOUT
        for event in events:
            if event.handle is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        event.handle.record.responded.wait(), max(0.0, deadline - loop.time())
                    )
        return loop.time() - started


MOOD_ID = "checkin:mood:"


def assess(backend: str, events: list[Event], bare: bool) -> dict[str, Step]:
    steps = {name: Step(backend, "bare" if bare else name) for name in STEPS}
    for event in events:
        step = steps[event.step]
        record = event.handle.record if event.handle is not None else None
        if record is None or record.response is None or record.response_at is None:
            step.unanswered += 1
            continue
        step.latencies.append(record.response_at - record.dispatched_at)
        if record.response.get("type") in (5, 6):
            step.deferred += 1
        if bare:
            ok = record.response.get("type") == 4
        elif event.step == PRESS:
            ok = event.showed_moods  # (the mood click then edits that message)
        elif event.step == MOOD:
            ok = record.original is not None and record.original.content.startswith("Saved:")
            body = record.response.get("data") or {}
            ok = ok or str(body.get("content", "")).startswith("Saved:")
        else:
            ok = any(cid.startswith("talk:cancel:") for cid in component_ids(record.original))
        if not ok:
            step.wrong += 1
            shown = record.original.content if record.original is not None else ""
            step.example = step.example or shown[:80]
    return steps


def alert_delays(fake: FakeDiscord, alerts_id: int, events: list[Event]) -> list[float | None]:
    posted = fake.messages(alerts_id, ephemeral=False)
    delays: list[float | None] = []
    for event in events:
        if event.step != TALK or event.handle is None:
            continue
        mention = f"<@{event.member}>"
        found = [
            m.created_monotonic
            for m in posted
            if mention in m.content or mention in json.dumps(m.embeds)
        ]
        delays.append(min(found) - event.handle.record.dispatched_at if found else None)
    return delays


async def wait_for_alerts(fake: FakeDiscord, alerts_id: int, events: list[Event]) -> None:
    with contextlib.suppress(AssertionError):  # not all posted: reported
        await fake.wait_for(lambda: None not in alert_delays(fake, alerts_id, events), 30, "alerts")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


HEADER = (
    "backend     step              n    p50 ms   p99 ms   max ms  >3s  deferred  wrong"
    "  bot CPU ms/ix  peak/s"
)


def rows(steps: list[Step], cpu_per: float, peak: int) -> list[str]:
    lines = []
    for s in steps:
        n = len(s.latencies) + s.unanswered
        lines.append(
            f"{s.backend:10s}  {s.step:15s} {n:5d} {ms(s.quantile(50))} {ms(s.quantile(99))} "
            f"{ms(max(s.latencies, default=float('nan')))} {s.late:4d} {s.deferred:9d} "
            f"{s.wrong:6d}  {cpu_per * 1000:13.1f}  {peak:6d}"
        )
        if s.wrong:
            lines.append(f"    {s.wrong} wrong, e.g. {s.example!r}")
    return lines


def peak_rate(events: list[Event]) -> int:
    per_second: dict[int, int] = {}
    for event in events:
        per_second[int(event.at)] = per_second.get(int(event.at), 0) + 1
    return max(per_second.values(), default=0)


async def run_backend(backend: str, folder: Path, logs: Path, args: argparse.Namespace) -> None:
    rng = random.Random(SEED)
    world = World()
    guild = world.add_guild("Bench")
    general = world.add_text_channel(guild.id, "general")
    checkins = world.add_text_channel(guild.id, "checkins")
    alerts = world.add_text_channel(guild.id, "alerts")
    support = world.add_text_channel(guild.id, "support")
    mods = world.add_role(guild.id, "Moderators")
    members = [world.add_member(guild.id, f"m{n}").id for n in range(args.members)]
    chosen = rng.sample(members, args.pressers + TALKS)
    pressers, talkers = chosen[: args.pressers], chosen[args.pressers :]
    events = schedule(rng, pressers, talkers)
    peak = peak_rate(events)
    async with bot_against_standin(world, backend, folder, logs) as (fake, url, bot):
        began = time.monotonic()
        await seed(url, guild.id, members, pressers)
        print(
            f"[{backend}] seeded {len(members):,} members, {len(pressers):,} with check-ins "
            f"({time.monotonic() - began:.0f} s); schedule peak {peak} events in one second",
            flush=True,
        )
        owner = world.guilds[guild.id].owner_id
        for command, options in (
            (
                "setup escalation",
                {
                    "alert_channel": alerts.id,
                    "moderator_role": mods.id,
                    "support_channel": support.id,
                },
            ),
            ("setup checkins", {"channel": checkins.id, "prompt_time": "10:00"}),
        ):
            handle = await fake.invoke(guild.id, general.id, owner, command, options=options)
            await handle.response(timeout=30)
        await make_prompt_due(url)
        bot_id = world.bot_user.id
        prompt = await fake.wait_for(
            lambda: next(
                (
                    m
                    for m in fake.messages(checkins.id, ephemeral=False)
                    if m.author_id == bot_id and f"checkin:start:{guild.id}" in component_ids(m)
                ),
                None,
            ),
            30,
            "the daily prompt",
        )
        results: list[str] = []
        for bare in (True, False):
            # A fresh copy of the schedule for each pass (the events record their answers).
            run_events = [Event(e.at, e.step, e.member) for e in events]
            presses = {e.member: e for e in run_events if e.step == PRESS}
            for e in run_events:
                if e.step == MOOD:
                    e.press = presses[e.member]
            burst = Burst(fake, guild.id, general.id, prompt, bare)
            cpu_before, _ = bot.cpu()
            rss_before = bot.rss()
            wall = await burst.run(run_events)
            steps = assess(backend, run_events, bare)
            if not bare:  # the alerts, posted through the outbox meanwhile
                await wait_for_alerts(fake, alerts.id, run_events)
            cpu_per = (bot.cpu()[0] - cpu_before) / max(1, len(run_events))
            shown = [steps[PRESS]] if bare else [steps[name] for name in STEPS]
            if bare:
                for name in (MOOD, TALK):
                    shown[0].latencies += steps[name].latencies
                    shown[0].unanswered += steps[name].unanswered
                    shown[0].deferred += steps[name].deferred
                    shown[0].wrong += steps[name].wrong
            new = rows(shown, cpu_per, peak)
            # What the pass left in memory: discord.py kept each private reply's view for
            # 15 minutes, with a timer task, until bot.ui.views stopped it doing so.
            rss_after = bot.rss()
            new.append(
                f"    ({'bare' if bare else 'burst'} pass: {wall:.1f} s; bot RSS "
                f"{rss_before:.0f} -> {rss_after:.0f} MiB, {rss_after - rss_before:+.1f})"
            )
            if not bare:
                delays = alert_delays(fake, alerts.id, run_events)
                got = sorted(d for d in delays if d is not None)
                new.append(
                    f"{backend:10s}  /talk alerts: {len(got)} of {len(delays)} posted; "
                    f"p50 {ms(statistics.median(got)).strip() if got else '-'} ms, "
                    f"max {ms(got[-1]).strip() if got else '-'} ms; "
                    f"over {ALERT_LIMIT:g} s: {sum(1 for d in got if d > ALERT_LIMIT)}"
                )
            for line in new:
                print(line, flush=True)
            results += new
        print()
        print(HEADER)
        for line in results:
            print(line)


async def main(args: argparse.Namespace) -> None:
    print(machine(), flush=True)
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.members:,} members, {args.pressers:,} "
        f"press Check in and a mood, {TALKS} /talk, within {WINDOW:g} s",
        flush=True,
    )
    print(HEADER, flush=True)
    backends = ["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_ENV) else [])
    logs = Path(tempfile.mkdtemp(prefix="kinfolk-prompt-logs-"))
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            await run_backend(backend, Path(folder), logs, args)
    print(f"{machine()}; today {date.today()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=MEMBERS)
    parser.add_argument("--pressers", type=int, default=PRESSERS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
