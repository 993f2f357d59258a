"""Fixtures for fuzzing: the Hearth server, the stand-in serving it, and a configured bot
with a `Fuzzer` that checks every example's properties."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.driver import serving, settle
from tests.e2e.fuzz.harness import ErrorLog, Fuzzer
from tests.e2e.fuzz.world import Hearth, add_late_entities, build_hearth, run_setup
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock


@pytest.fixture
def hearth() -> Hearth:
    return build_hearth()


@pytest.fixture
async def fake(hearth: Hearth) -> AsyncIterator[FakeDiscord]:
    async with serving(hearth.world, spec_checked=False, pings_checked=False) as server:
        yield server


@pytest.fixture
async def fuzzer(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> AsyncIterator[Fuzzer]:
    """The bot, with every feature set up, and a fuzzer watching it from here on."""
    errors = ErrorLog()
    remove = errors.install()
    try:
        await fake.wait_commands_synced()
        fuzzer = Fuzzer(fake, hearth, asyncio.get_running_loop(), errors)
        for handle in await run_setup(fake, hearth):
            await fuzzer.answered(handle)
        await fuzzer.check()  # the set-up itself must keep every property
        add_late_entities(hearth)
        yield fuzzer
        await settle(fake, database, clock)  # what the outbox still had to send
        await fuzzer.check()
    finally:
        remove()
