"""What every end-to-end test drives the bot with: the stand-in serving a world (with the
checks every test ends on), and waiting for the outbox to settle.

    @pytest.fixture
    async def fake(grove: Grove) -> AsyncIterator[FakeDiscord]:
        async with serving(grove.world) as server:
            yield server

A member runs a command with `run(fake, world, member, "checkin")`; a stored message's
buttons are `message.custom_ids` (tests/fakediscord/messages.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import func, or_, select

from bot.db.engine import Database
from bot.db.models import OutboxMessage
from bot.db.repositories.outbox import PENDING, SENDING
from tests.fakediscord import FakeDiscord, InteractionHandle, World, point_discord_py_at
from tests.helpers import FrozenClock


@asynccontextmanager
async def serving(
    world: World, *, spec_checked: bool = True, pings_checked: bool = True
) -> AsyncIterator[FakeDiscord]:
    """The stand-in serving `world`, with discord.py pointed at it. When the test is done:
    every message the bot sent set `allowed_mentions`; with `pings_checked`, none pinged
    @everyone; with `spec_checked`, every request the bot made was valid against Discord's
    spec. (The fuzzers check both themselves, example by example, and test that check.)"""
    async with FakeDiscord(world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
            assert_every_message_sets_allowed_mentions(server)
            if pings_checked:
                assert_nobody_was_pinged_with_everyone(server)
            if spec_checked:
                server.assert_no_violations()
        finally:
            undo()


def assert_every_message_sets_allowed_mentions(fake: FakeDiscord) -> None:
    bot_id = fake.world.bot_user.id
    careless = [
        (m.id, m.content[:40])
        for m in fake.world.message_index.values()
        if m.author_id == bot_id and m.allowed_mentions is None
    ]
    assert careless == [], "messages sent without allowed_mentions"


def assert_nobody_was_pinged_with_everyone(fake: FakeDiscord) -> None:
    everyone = [m.id for m in fake.world.message_index.values() if "everyone" in fake.pinged(m)]
    assert everyone == [], "a message pinged @everyone"


class Place(Protocol):
    """A test world's server: where a member types a command."""

    def where(self, member: int) -> tuple[int, int, int]:
        """(server, channel, member)."""
        ...


async def run(
    fake: FakeDiscord, place: Place, member: int, command: str, /, **options: Any
) -> InteractionHandle:
    """`member` runs `/command` with `options` in `place`; returns once it is answered."""
    handle = await fake.invoke(*place.where(member), command, options=options or None)
    await handle.response()
    return handle


async def settle(fake: FakeDiscord, db: Database, clock: FrozenClock) -> None:
    """Wait until the outbox has nothing due now: everything due was sent, skipped or
    rescheduled, so a test can assert that nothing *more* was sent."""

    async def nothing_due() -> bool:
        async with db.session() as session:
            due = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    or_(
                        (OutboxMessage.status == PENDING) & (OutboxMessage.due_at <= clock.now()),
                        OutboxMessage.status == SENDING,
                    )
                )
            )
        return due == 0

    await fake.wait_for(nothing_due, timeout=10, what="the outbox to settle")
