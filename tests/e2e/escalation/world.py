"""A peer-support server for the "I need to talk" end-to-end tests, and helpers to drive it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import SupportRequest
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage, World

ALERT_TITLE = "Someone needs to talk"


@dataclass
class Circle:
    world: World
    guild_id: int
    owner_id: int
    general_id: int
    alerts_id: int
    support_id: int
    moderators_role: int
    admins_role: int
    on_duty_role: int
    mod: int
    mod2: int
    alice: int
    bob: int

    def where(self, member: int) -> tuple[int, int, int]:
        return self.guild_id, self.general_id, member


def build_circle() -> Circle:
    world = World()
    guild = world.add_guild("Harbour")
    general = world.add_text_channel(guild.id, "general")
    alerts = world.add_text_channel(guild.id, "mod-alerts")
    support = world.add_text_channel(guild.id, "support")
    moderators = world.add_role(guild.id, "Moderators")  # no special permissions
    admins = world.add_role(guild.id, "Admins")
    on_duty = world.add_role(guild.id, "On duty")
    return Circle(
        world=world,
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=general.id,
        alerts_id=alerts.id,
        support_id=support.id,
        moderators_role=moderators.id,
        admins_role=admins.id,
        on_duty_role=on_duty.id,
        mod=world.add_member(guild.id, "mod", roles=[moderators.id]).id,
        mod2=world.add_member(guild.id, "mod2", roles=[moderators.id]).id,
        alice=world.add_member(guild.id, "alice").id,
        bob=world.add_member(guild.id, "bob").id,
    )


async def configure(fake: FakeDiscord, circle: Circle, **extra: Any) -> InteractionHandle:
    options = {
        "alert_channel": circle.alerts_id,
        "moderator_role": circle.moderators_role,
        "support_channel": circle.support_id,
        "second_tier_role": circle.admins_role,
        **extra,
    }
    handle = await fake.invoke(*circle.where(circle.owner_id), "setup escalation", options=options)
    await handle.original_message()
    return handle


async def talk(
    fake: FakeDiscord, circle: Circle, member: int, feeling: str | None = None, **kw: Any
) -> InteractionHandle:
    options = {"feeling": feeling} if feeling else {}
    handle = await fake.invoke(*circle.where(member), "talk", options=options, **kw)
    await handle.response()
    return handle


def alerts(fake: FakeDiscord, circle: Circle) -> list[StoredMessage]:
    return [
        m
        for m in fake.messages(circle.alerts_id)
        if m.embeds and m.embeds[0].get("title", "").endswith(ALERT_TITLE)
    ]


def alert_texts(fake: FakeDiscord, circle: Circle) -> list[str]:
    """The plain (non-alert) messages in the alert channel: re-pings and escalations."""
    return [m.content for m in fake.messages(circle.alerts_id) if not m.embeds]


async def the_alert(fake: FakeDiscord, circle: Circle) -> StoredMessage:
    await fake.wait_for(lambda: len(alerts(fake, circle)) == 1, what="one alert posted")
    return alerts(fake, circle)[0]


def field(message: StoredMessage, name: str) -> str:
    return next(f["value"] for f in message.embeds[0]["fields"] if f["name"] == name)


async def request_row(db: Database, member: int) -> SupportRequest:
    async with db.session() as session:
        row = await session.scalar(
            select(SupportRequest)
            .where(SupportRequest.member_id == member)
            .order_by(SupportRequest.id.desc())
        )
    assert row is not None
    return row


# What a member with Discord in US English is shown (bot/domain/crisis_lines.toml).
RESOURCE_MARKERS = ("**988**", "**911**", "Canada", "findahelpline.com", "emergency number")


def embed_text(embeds: list[dict]) -> str:
    return "\n".join(str(e.get("title", "")) + str(e.get("description", "")) for e in embeds)
