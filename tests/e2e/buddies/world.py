"""A server for the buddy-pairing end-to-end tests, and helpers to drive it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import BuddyBlock, BuddyMember, BuddyRound
from tests.e2e.driver import run as run  # (re-exported for this world's tests)
from tests.e2e.driver import settle
from tests.fakediscord import Channel, FakeDiscord, StoredMessage, World
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


async def reply(
    fake: FakeDiscord, meadow: Meadow, member: int, command: str, /, **options: Any
) -> str:
    return (await (await run(fake, meadow, member, command, **options)).answer()).content


async def set_up(fake: FakeDiscord, meadow: Meadow, **options: Any) -> str:
    return await reply(
        fake, meadow, meadow.owner_id, "setup buddies", channel=meadow.buddies_id, **options
    )


async def start_round(
    fake: FakeDiscord, meadow: Meadow, database: Database, clock: FrozenClock
) -> StoredMessage:
    """Preview a round as the owner and press Start; wait for the threads."""
    return await start_round_as(fake, meadow.where(meadow.owner_id), database, clock)


async def start_round_as(
    fake: FakeDiscord, where: tuple[int, int, int], db: Database, clock: FrozenClock
) -> StoredMessage:
    """`/setup buddies-round` from `where` (server, channel, moderator), then its one Start
    button; waits for both answers (each is deferred) and for the threads."""
    preview = await (await fake.invoke(*where, "setup buddies-round")).answer()
    [start_id] = preview.custom_ids
    message = await (await fake.click(preview, start_id, where[2])).answer()
    await settle(fake, db, clock)
    return message


def buddy_threads(fake: FakeDiscord, meadow: Meadow) -> list[Channel]:
    return [t for t in fake.threads if t.parent_id == meadow.buddies_id]


def ids(meadow: Meadow, *names: str) -> list[int]:
    return [meadow.members[name] for name in names]


async def join(fake: FakeDiscord, meadow: Meadow, *names: str, **options: Any) -> None:
    """/buddy join for each named member; each must be told they're in."""
    for name in names:
        answer = await reply(fake, meadow, meadow.members[name], "buddy join", **options)
        assert answer.startswith("You're in!"), answer


def members_of(fake: FakeDiscord, thread: Channel) -> frozenset[int]:
    """The people in a thread, leaving out the bot that opened it."""
    return frozenset(thread.thread_members - {fake.world.bot_user.id})


def round_threads(fake: FakeDiscord, meadow: Meadow, number: int) -> list[Channel]:
    return [t for t in buddy_threads(fake, meadow) if t.name == f"Buddies · round {number}"]


def groups_of(fake: FakeDiscord, meadow: Meadow, number: int) -> list[frozenset[int]]:
    """Who shares a thread in round `number`, one set per thread."""
    return [members_of(fake, t) for t in round_threads(fake, meadow, number)]


def placed_exactly_once(groups: list[frozenset[int]], people: list[int]) -> bool:
    everyone = [m for g in groups for m in g]
    return sorted(everyone) == sorted(people)


def together(groups: list[frozenset[int]], a: int, b: int) -> bool:
    return any({a, b} <= g for g in groups)


def checkups(fake: FakeDiscord, member: int) -> list[StoredMessage]:
    """The member's DMs that ask "did you two connect?" (they carry the three buttons)."""
    return [
        m
        for m in fake.dm_messages(member)
        if any(c.startswith("buddy:connect:") for c in m.custom_ids)
    ]


def dm_texts(fake: FakeDiscord, member: int) -> list[str]:
    return [m.content for m in fake.dm_messages(member)]


async def move_to(fake: FakeDiscord, db: Database, clock: FrozenClock, when: datetime) -> None:
    """Move the clock forward to `when` and wait until everything due by then is handled."""
    assert when >= clock.now(), "the clock only moves forward"
    clock._now = when
    await settle(fake, db, clock)


def user_payload(meadow: Meadow, member: int) -> dict[str, Any]:
    return meadow.world.users[member].payload()


async def participant(db: Database, meadow: Meadow, member: int) -> BuddyMember | None:
    async with db.session() as session:
        return await session.get(BuddyMember, (meadow.guild_id, member))


async def rounds_of(db: Database, meadow: Meadow) -> list[BuddyRound]:
    async with db.session() as session:
        rows = await session.scalars(
            select(BuddyRound)
            .where(BuddyRound.guild_id == meadow.guild_id)
            .order_by(BuddyRound.number)
        )
        return list(rows.all())


async def blocks_of(db: Database, meadow: Meadow) -> list[tuple[int, int, str]]:
    async with db.session() as session:
        rows = await session.scalars(
            select(BuddyBlock).where(BuddyBlock.guild_id == meadow.guild_id)
        )
        return [(b.user_id, b.blocked_id, b.reason) for b in rows.all()]


def buddy_of(fake: FakeDiscord, meadow: Meadow, member: int, number: int = 1) -> int:
    """The one buddy `member` shares a thread with in round `number`."""
    [group] = [g for g in groups_of(fake, meadow, number) if member in g]
    [buddy] = group - {member}
    return buddy


def group_in(question: StoredMessage) -> int:
    """The group a "did you connect?" DM is about, from its buttons."""
    found = {int(m[1]) for c in question.custom_ids if (m := re.match(r"buddy:connect:(\d+)", c))}
    [group] = found
    return group


async def halfway(fake: FakeDiscord, meadow: Meadow, db: Database, clock: FrozenClock) -> None:
    """Move to the first round's halfway point, where each buddy is asked once."""
    [first] = await rounds_of(db, meadow)
    await move_to(fake, db, clock, first.started_at + (first.ends_at - first.started_at) / 2)
    assert all(len(checkups(fake, m)) == 1 for g in groups_of(fake, meadow, 1) for m in g)


async def answer(fake: FakeDiscord, member: int, choice: str) -> StoredMessage:
    """Press `choice` ("yes", "not_yet", "not_fit") on the member's question; returns the DM
    as it reads afterwards."""
    [question] = checkups(fake, member)
    pressed = await fake.click(question, f"buddy:connect:{group_in(question)}:{choice}", member)
    return await pressed.answer()
