"""A server for the check-in end-to-end tests, and helpers to drive check-ins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Checkin, MemberProfile, OutboxMessage
from tests.e2e.driver import run as run  # (re-exported for this world's tests)
from tests.fakediscord import FakeDiscord, StoredMessage, World

MANAGE_GUILD = 1 << 5


@dataclass
class Grove:
    world: World
    guild_id: int
    owner_id: int
    general_id: int
    checkins_id: int
    alerts_id: int
    support_id: int
    moderators_role: int
    alice: int
    bob: int

    def where(self, member: int) -> tuple[int, int, int]:
        return self.guild_id, self.general_id, member


def build_grove() -> Grove:
    world = World()
    guild = world.add_guild("Grove")
    general = world.add_text_channel(guild.id, "general")
    checkins = world.add_text_channel(guild.id, "check-ins")
    alerts = world.add_text_channel(guild.id, "mod-alerts")
    support = world.add_text_channel(guild.id, "support")
    moderators = world.add_role(guild.id, "Moderators", permissions=MANAGE_GUILD)
    return Grove(
        world=world,
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=general.id,
        checkins_id=checkins.id,
        alerts_id=alerts.id,
        support_id=support.id,
        moderators_role=moderators.id,
        alice=world.add_member(guild.id, "alice").id,
        bob=world.add_member(guild.id, "bob").id,
    )


async def checkin(
    fake: FakeDiscord, grove: Grove, member: int, mood: int, *, consent: bool = True
) -> StoredMessage:
    """/checkin, agreeing first if asked, then tapping `mood`; returns the saved answer."""
    message = await (await run(fake, grove, member, "checkin")).original_message()
    consent_id = f"checkin:consent:{grove.guild_id}:yes"
    if consent and consent_id in message.custom_ids:
        message = await (await fake.click(message, consent_id, member)).original_message()
    tapped = await fake.click(message, f"checkin:mood:{grove.guild_id}:{mood}", member)
    return await tapped.original_message()


async def checkins_of(db: Database, member: int) -> list[Checkin]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Checkin).where(Checkin.user_id == member).order_by(Checkin.id)
        )
        return list(rows.all())


async def profile_of(db: Database, grove: Grove, member: int) -> MemberProfile | None:
    async with db.session() as session:
        return await session.get(MemberProfile, (grove.guild_id, member))


async def outbox_rows(db: Database, kind: str) -> list[OutboxMessage]:
    async with db.session() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
        return list(rows.all())
