"""Fuzzing what Kinfolk says on its own, from settings and words members typed (issue 9).

The slash-command fuzzer sees each command's answer; this one lets time pass afterwards, so
everything the outbox sends from fuzzed input is checked too: reach-out DMs in the server's
own wording, buddy intros that mention the topics members offer, thinking-of-you notes,
daily check-in prompts at a fuzzed time, reminders, digests. Each example sets everything
through the real commands (option values drawn from their synced schemas, a few pinned so
the feature stays switched on), then moves the clock a day and then three more, letting the
outbox deliver what fell due; the properties in ``harness`` are checked after each step.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, target
from hypothesis import strategies as st

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.driver import settle
from tests.e2e.fuzz.harness import Fuzzer, run_fuzz, scaled
from tests.e2e.fuzz.known_bugs import known_bug
from tests.e2e.fuzz.strategies import leaf_commands, options_for
from tests.helpers import FrozenClock

EXAMPLES = 6
# Days the clock moves after each example's settings: one day (daily prompts, reminders,
# a buddy round), then three more, past the reach-out threshold of three quiet days.
STEPS = (1, 3)


async def test_what_kinfolk_sends_on_its_own_keeps_its_promises(
    fuzzer: Fuzzer, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    hearth = fuzzer.hearth
    schemas = dict(leaf_commands(fuzzer.fake.global_commands))
    owner, alice, mod = hearth.owner, hearth.alice, hearth.mod
    # (who, command, options always given: text that ends up in messages, and values
    # pinned so the feature stays switched on)
    steps: list[tuple[int, str, tuple[str, ...], dict[str, Any]]] = [
        (
            owner,
            "setup reachout",
            ("message",),
            {"enabled": True, "threshold_days": 3, "channels": "all"},
        ),
        (owner, "setup checkins", ("prompt_time",), {"channel": hearth.checkins}),
        (owner, "setup buddies", ("start_time",), {"channel": hearth.buddies, "round_days": 1}),
        (alice, "offer", ("topics",), {"withdraw": False}),
        (mod, "offer", ("topics",), {"withdraw": False}),
        (alice, "reminder set", ("timezone",), {}),
        (alice, "thinking-of-you", ("note",), {"member": mod}),
        (alice, "reachout on", (), {}),
        (mod, "reachout on", (), {}),
    ]
    strategy = st.tuples(
        *(
            options_for(hearth, schemas[command], always).map(lambda o, pin=pin: {**o, **pin})
            for _, command, always, pin in steps
        )
    )
    days_passed: list[int] = []

    def example(drawn: tuple[dict[str, Any], ...]) -> None:
        for (_, command, _, _), options in zip(steps, drawn, strict=True):
            assume(not known_bug(hearth, command, schemas[command], options))
        for (member, command, _, _), options in zip(steps, drawn, strict=True):
            fuzzer.typed(options)
            fuzzer.run(fuzzer.invoke((hearth.guild_id, hearth.general, member), command, options))
        fuzzer.run(kinfolk.flush_participation())
        fullest = 0.0
        for days in STEPS:
            clock.advance(days=days)
            kinfolk.outbox.wake()
            fuzzer.run(settle(fuzzer.fake, database, clock))
            fullest = max(fullest, fuzzer.run(fuzzer.check()))
            days_passed.append(days)
        target(fullest, label="fullest message")

    await run_fuzz(strategy, example, EXAMPLES)
    assert len(days_passed) == scaled(EXAMPLES) * len(STEPS)
    sent = [m for m in fuzzer.fake.world.message_index.values() if not m.interaction]
    assert sent, "time passed but Kinfolk sent nothing on its own"
