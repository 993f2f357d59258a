"""A server for the reach-out end-to-end tests, and helpers to drive it: members who post,
react and run commands, the owner's /setup reachout, and the quiet member's DM."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import ActivityDay, MemberActivity, ReachoutSettings
from tests.e2e.buddies.world import start_round_as
from tests.e2e.driver import run as run  # (re-exported for this world's tests)
from tests.e2e.driver import settle
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage, World
from tests.helpers import FrozenClock

MANAGE_GUILD = 1 << 5
NAMES = ("alice", "bob", "cai", "dee")
ANSWERS = ("busy", "checkin", "talk", "pause", "stop")
ASK_TEXT = "may Kinfolk send you a short, kind DM"


@dataclass
class Hearth:
    world: World
    guild_id: int
    owner_id: int
    general_id: int
    offtopic_id: int
    buddies_id: int
    alerts_id: int
    support_id: int
    digest_id: int
    moderators_role: int
    members: dict[str, int]
    other_bot: int

    def where(self, member: int) -> tuple[int, int, int]:
        return self.guild_id, self.general_id, member

    def __getitem__(self, name: str) -> int:
        return self.members[name]


def build_hearth() -> Hearth:
    world = World()
    guild = world.add_guild("Hearth")
    channels = {
        name: world.add_text_channel(guild.id, name).id
        for name in ("general", "offtopic", "buddies", "mod-alerts", "support", "mod-digest")
    }
    moderators = world.add_role(guild.id, "Moderators", permissions=MANAGE_GUILD)
    return Hearth(
        world=world,
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=channels["general"],
        offtopic_id=channels["offtopic"],
        buddies_id=channels["buddies"],
        alerts_id=channels["mod-alerts"],
        support_id=channels["support"],
        digest_id=channels["mod-digest"],
        moderators_role=moderators.id,
        members={name: world.add_member(guild.id, name).id for name in NAMES},
        other_bot=world.add_member(guild.id, "otherbot", bot=True).id,
    )


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# ----- acting ---------------------------------------------------------------------------


async def reply(
    fake: FakeDiscord, hearth: Hearth, member: int, command: str, /, **options: Any
) -> str:
    handle = await run(fake, hearth, member, command, **options)
    assert handle.is_ephemeral
    return (await handle.original_message()).content


async def set_up(fake: FakeDiscord, hearth: Hearth, **options: Any) -> str:
    """/setup reachout as the owner (switched on unless told otherwise); returns the answer."""
    return await reply(
        fake, hearth, hearth.owner_id, "setup reachout", **{"enabled": True, **options}
    )


async def opt_in(fake: FakeDiscord, hearth: Hearth, *names: str) -> None:
    for name in names:
        answer = await reply(fake, hearth, hearth[name], "reachout on")
        assert answer.startswith("Done."), answer


async def start_round(fake: FakeDiscord, hearth: Hearth, db: Database, clock: FrozenClock) -> None:
    """Preview a buddy round as the owner and press Start; wait for the threads."""
    await start_round_as(fake, hearth.where(hearth.owner_id), db, clock)


# ----- activity -------------------------------------------------------------------------
# discord.py runs event listeners, slash commands and component callbacks as named tasks.
HANDLER_TASKS = ("discord.py: on_", "discord-ui-", "CommandTree-invoker")


async def handlers_done() -> None:
    """Wait until the bot's listeners (on_message, on_interaction, …), commands and button
    callbacks started so far have finished, follow-ups and all."""
    while pending := [
        t for t in asyncio.all_tasks() if t.get_name().startswith(HANDLER_TASKS) and not t.done()
    ]:
        await asyncio.wait(pending, timeout=5)


async def written(fake: FakeDiscord, bot: KinfolkBot) -> None:
    """Everything the bot has been sent so far is processed and its activity written."""
    await fake.gateway.sync()
    await handlers_done()
    await bot.flush_participation()


async def move_to(fake: FakeDiscord, db: Database, clock: FrozenClock, when: datetime) -> None:
    """Move the clock forward to `when` and wait until everything due by then is handled."""
    assert when >= clock.now(), "the clock only moves forward"
    clock._now = when
    await settle(fake, db, clock)


async def walk(
    fake: FakeDiscord, db: Database, clock: FrozenClock, *stops: datetime
) -> dict[datetime, int]:
    """Move through `stops` (each runs the hourly sweep once); how many reach-out DMs in all
    had arrived at each stop."""
    seen = {}
    for when in stops:
        await move_to(fake, db, clock, when)
        seen[when] = sum(len(reachouts(fake, m)) for m in fake.world.users)
    return seen


# ----- reading --------------------------------------------------------------------------
def reachouts(fake: FakeDiscord, member: int) -> list[StoredMessage]:
    """The member's reach-out DMs (the ones with the one-tap answers)."""
    return [
        m
        for m in fake.dm_messages(member)
        if any(c.startswith("reachout:answer:") for c in m.custom_ids)
    ]


def answer_ids(hearth: Hearth) -> list[str]:
    return [f"reachout:answer:{hearth.guild_id}:{choice}" for choice in ANSWERS]


async def press(fake: FakeDiscord, hearth: Hearth, name: str, choice: str) -> InteractionHandle:
    """The member taps `choice` under their one reach-out DM."""
    [dm] = reachouts(fake, hearth[name])
    handle = await fake.click(dm, f"reachout:answer:{hearth.guild_id}:{choice}", hearth[name])
    await handle.response()
    return handle


async def asked(handle: InteractionHandle) -> StoredMessage | None:
    """The one-time "may Kinfolk DM you?" question among an interaction's follow-ups, once
    the bot has finished answering it."""
    await handlers_done()
    found = [m for m in handle.followups if ASK_TEXT in m.content]
    assert len(found) <= 1
    return found[0] if found else None


async def member_row(db: Database, hearth: Hearth, member: int) -> MemberActivity | None:
    async with db.session() as session:
        return await session.get(MemberActivity, (hearth.guild_id, member))


async def last_seen(db: Database, hearth: Hearth, member: int) -> datetime | None:
    row = await member_row(db, hearth, member)
    return row.last_seen_at if row is not None else None


async def days_of(db: Database, member: int) -> list[ActivityDay]:
    async with db.session() as session:
        rows = await session.scalars(
            select(ActivityDay).where(ActivityDay.user_id == member).order_by(ActivityDay.day)
        )
        return list(rows.all())


async def settings_row(db: Database, hearth: Hearth) -> ReachoutSettings | None:
    async with db.session() as session:
        return await session.get(ReachoutSettings, hearth.guild_id)


async def checkin(fake: FakeDiscord, hearth: Hearth, name: str, mood: int) -> InteractionHandle:
    """/checkin, agreeing to keep check-ins if asked, then tapping `mood`; returns the tap,
    whose follow-ups hold the one-time reach-out question if it was asked."""
    member = hearth[name]
    message = await (await run(fake, hearth, member, "checkin")).original_message()
    consent_id = f"checkin:consent:{hearth.guild_id}:yes"
    if consent_id in message.custom_ids:
        message = await (await fake.click(message, consent_id, member)).original_message()
    tapped = await fake.click(message, f"checkin:mood:{hearth.guild_id}:{mood}", member)
    assert (await tapped.original_message()).content.startswith("Saved")
    await handlers_done()
    return tapped
