"""A peer-support server for the resilience tests, and helpers to drive it and read back
what the bot did (messages on the stand-in, rows in the database)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Checkin, OutboxMessage, SupportRequest
from tests.e2e.driver import run as run  # (re-exported for this world's tests)
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage, World

ALERT_TITLE = "Someone needs to talk"
RESOURCE_MARKERS = ("988", "911", "findahelpline.com")
# The stand-in's deadline for the first answer to an interaction, as Discord's.
DEADLINE = 3.0


@dataclass
class Shelter:
    world: World
    guild_id: int
    owner_id: int
    general_id: int
    alerts_id: int
    support_id: int
    buddies_id: int
    moderators_role: int
    admins_role: int
    mod: int
    alice: int
    bob: int
    cai: int
    crowd: list[int]  # more members, for bursts

    def where(self, member: int) -> tuple[int, int, int]:
        return self.guild_id, self.general_id, member


def build_shelter(crowd: int = 12) -> Shelter:
    world = World()
    guild = world.add_guild("Shelter")
    general = world.add_text_channel(guild.id, "general")
    alerts = world.add_text_channel(guild.id, "mod-alerts")
    support = world.add_text_channel(guild.id, "support")
    buddies = world.add_text_channel(guild.id, "buddies")
    moderators = world.add_role(guild.id, "Moderators")
    admins = world.add_role(guild.id, "Admins")
    return Shelter(
        world=world,
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=general.id,
        alerts_id=alerts.id,
        support_id=support.id,
        buddies_id=buddies.id,
        moderators_role=moderators.id,
        admins_role=admins.id,
        mod=world.add_member(guild.id, "mod", roles=[moderators.id]).id,
        alice=world.add_member(guild.id, "alice").id,
        bob=world.add_member(guild.id, "bob").id,
        cai=world.add_member(guild.id, "cai").id,
        crowd=[world.add_member(guild.id, f"member{n}").id for n in range(crowd)],
    )


# ----- acting ---------------------------------------------------------------------------


async def reply(
    fake: FakeDiscord, shelter: Shelter, member: int, command: str, /, **options: Any
) -> str:
    """Run a command and return the text of its private answer (waiting out a deferral)."""
    handle = await run(fake, shelter, member, command, **options)
    assert handle.is_ephemeral
    return await text_of(fake, handle)


async def text_of(fake: FakeDiscord, handle: InteractionHandle, timeout: float = 5) -> str:  # noqa: ASYNC109
    """The text of an interaction's answer: its original message, or its latest follow-up
    once a deferred ("thinking…") answer was filled in."""
    message = await handle.original_message(timeout)
    await fake.wait_for(
        lambda: message.content or message.embeds or handle.followups,
        timeout,
        what="an answer",
    )
    if handle.followups:
        return handle.followups[-1].content
    return message.content


async def set_up_escalation(fake: FakeDiscord, shelter: Shelter) -> None:
    answer = await reply(
        fake,
        shelter,
        shelter.owner_id,
        "setup escalation",
        alert_channel=shelter.alerts_id,
        moderator_role=shelter.moderators_role,
        support_channel=shelter.support_id,
        second_tier_role=shelter.admins_role,
    )
    assert "error id" not in answer, answer


async def talk(
    fake: FakeDiscord, shelter: Shelter, member: int, feeling: str = "struggling"
) -> InteractionHandle:
    handle = await fake.invoke(*shelter.where(member), "talk", options={"feeling": feeling})
    await handle.response()
    return handle


async def answered_within(handle: InteractionHandle, seconds: float = DEADLINE) -> None:
    """Wait for the first answer; fail if it did not come within `seconds` of dispatch."""
    start = time.monotonic()
    left = seconds - (start - handle.record.dispatched_at)
    try:
        await asyncio.wait_for(handle.record.responded.wait(), max(left, 0.01))
    except TimeoutError:
        raise AssertionError(f"no answer within {seconds}s of the interaction") from None


# ----- reading the stand-in -------------------------------------------------------------
def alerts(fake: FakeDiscord, shelter: Shelter) -> list[StoredMessage]:
    return [
        m
        for m in fake.messages(shelter.alerts_id)
        if m.embeds and str(m.embeds[0].get("title", "")).endswith(ALERT_TITLE)
    ]


def embed_text(embeds: list[dict[str, Any]]) -> str:
    return "\n".join(str(e.get("title", "")) + str(e.get("description", "")) for e in embeds)


def requests_to(fake: FakeDiscord, method: str, fragment: str) -> list[int]:
    """The statuses of the bot's requests whose path contains `fragment`, in order."""
    return [r.status for r in fake.requests if r.method == method and fragment in r.path]


# ----- reading the database -------------------------------------------------------------
async def outbox_rows(db: Database, **where: Any) -> list[OutboxMessage]:
    async with db.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list((await session.scalars(query)).all())


async def outbox_row(db: Database, key: str) -> OutboxMessage:
    [row] = await outbox_rows(db, idempotency_key=key)
    return row


async def requests_of(db: Database, member: int) -> list[SupportRequest]:
    async with db.session() as session:
        rows = await session.scalars(
            select(SupportRequest)
            .where(SupportRequest.member_id == member)
            .order_by(SupportRequest.id)
        )
        return list(rows.all())


async def checkins_of(db: Database, member: int) -> list[Checkin]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Checkin).where(Checkin.user_id == member).order_by(Checkin.id)
        )
        return list(rows.all())
