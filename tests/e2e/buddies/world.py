"""A server for the buddy-pairing end-to-end tests, and helpers to drive it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.db.engine import Database
from tests.e2e.talk.world import settle
from tests.fakediscord import Channel, FakeDiscord, InteractionHandle, StoredMessage, World
from tests.helpers import FrozenClock

MANAGE_GUILD = 1 << 5
NAMES = ("ana", "ben", "cai", "dee", "eli", "fay", "gus")


@dataclass
class Meadow:
    world: World
    guild_id: int
    owner_id: int
    general_id: int
    buddies_id: int
    members: dict[str, int]

    def where(self, member: int) -> tuple[int, int, int]:
        return self.guild_id, self.general_id, member


def build_meadow() -> Meadow:
    world = World()
    guild = world.add_guild("Meadow")
    general = world.add_text_channel(guild.id, "general")
    buddies = world.add_text_channel(guild.id, "buddies")
    return Meadow(
        world=world,
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=general.id,
        buddies_id=buddies.id,
        members={name: world.add_member(guild.id, name).id for name in NAMES},
    )


async def run(
    fake: FakeDiscord, meadow: Meadow, member: int, command: str, **options: Any
) -> InteractionHandle:
    handle = await fake.invoke(*meadow.where(member), command, options=options or None)
    await handle.response()
    return handle


async def reply(
    fake: FakeDiscord, meadow: Meadow, member: int, command: str, **options: Any
) -> str:
    return (await (await run(fake, meadow, member, command, **options)).original_message()).content


async def set_up(fake: FakeDiscord, meadow: Meadow, **options: Any) -> str:
    return await reply(
        fake, meadow, meadow.owner_id, "setup buddies", channel=meadow.buddies_id, **options
    )


async def start_round(
    fake: FakeDiscord, meadow: Meadow, database: Database, clock: FrozenClock
) -> StoredMessage:
    """Preview a round as the owner and press Start; wait for the threads."""
    preview = await (
        await run(fake, meadow, meadow.owner_id, "setup buddies-round")
    ).original_message()
    start_id = next(c["custom_id"] for row in preview.components for c in row["components"])
    started = await fake.click(preview, start_id, meadow.owner_id)
    message = await started.original_message()
    await settle(fake, database, clock)
    return message


def buddy_threads(fake: FakeDiscord, meadow: Meadow) -> list[Channel]:
    return [t for t in fake.threads if t.parent_id == meadow.buddies_id]
