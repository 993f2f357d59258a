"""A server for the support-circle end-to-end tests, and helpers to drive circles, offers,
thinking-of-you notes and milestones through the stand-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import CirclePerson, OutboxMessage, ThinkingNote
from tests.e2e.driver import run as run  # (re-exported for this world's tests)
from tests.fakediscord import FakeDiscord, StoredMessage, World

MANAGE_GUILD = 1 << 5
NAMES = ("alice", "bob", "cai", "dee", "eli")
KINDS = ("emotional", "practical", "informational", "companionship")
PRIVATE = "Only you can see your circle. Nobody listed in it is ever told."


@dataclass
class Commons:
    world: World
    guild_id: int
    owner_id: int
    general_id: int
    channels: dict[str, int]  # one suggested channel per kind of support
    milestones_id: int
    buddies_id: int
    alerts_id: int
    support_id: int
    moderators_role: int
    members: dict[str, int]

    def where(self, member: int) -> tuple[int, int, int]:
        return self.guild_id, self.general_id, member

    @property
    def alice(self) -> int:
        return self.members["alice"]

    @property
    def bob(self) -> int:
        return self.members["bob"]

    @property
    def cai(self) -> int:
        return self.members["cai"]

    @property
    def dee(self) -> int:
        return self.members["dee"]

    @property
    def eli(self) -> int:
        return self.members["eli"]


def build_commons() -> Commons:
    world = World()
    guild = world.add_guild("Commons")
    general = world.add_text_channel(guild.id, "general")
    names = {
        "emotional": "listening-ear",
        "practical": "helping-hands",
        "informational": "been-there",
        "companionship": "hangout",
    }
    channels = {kind: world.add_text_channel(guild.id, name).id for kind, name in names.items()}
    moderators = world.add_role(guild.id, "Moderators", permissions=MANAGE_GUILD)
    return Commons(
        world=world,
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=general.id,
        channels=channels,
        milestones_id=world.add_text_channel(guild.id, "milestones").id,
        buddies_id=world.add_text_channel(guild.id, "buddies").id,
        alerts_id=world.add_text_channel(guild.id, "mod-alerts").id,
        support_id=world.add_text_channel(guild.id, "support").id,
        moderators_role=moderators.id,
        members={name: world.add_member(guild.id, name).id for name in NAMES},
    )


async def reply(
    fake: FakeDiscord, commons: Commons, member: int, command: str, /, **options: Any
) -> StoredMessage:
    """The member's private answer to a command (it must be ephemeral)."""
    handle = await run(fake, commons, member, command, **options)
    assert handle.is_ephemeral, f"/{command} should answer privately"
    return await handle.answer()


async def setup_circles(fake: FakeDiscord, commons: Commons, **options: Any) -> str:
    answer = await reply(fake, commons, commons.owner_id, "setup circles", **options)
    assert answer.content.startswith("**Support circles**"), answer.content
    return answer.content


async def setup_escalation(fake: FakeDiscord, commons: Commons) -> None:
    options = {
        "alert_channel": commons.alerts_id,
        "moderator_role": commons.moderators_role,
        "support_channel": commons.support_id,
    }
    await reply(fake, commons, commons.owner_id, "setup escalation", **options)


async def open_circle(fake: FakeDiscord, commons: Commons, member: int) -> StoredMessage:
    """/circle, waiting until the deferred ("thinking…") answer has been filled in."""
    handle = await run(fake, commons, member, "circle")
    assert handle.is_ephemeral
    message = await handle.original_message()
    await fake.wait_for(
        lambda: bool(message.embeds),
        timeout=30,  # the first picture imports matplotlib
        what="/circle's answer",
    )
    assert message.ephemeral
    return message


async def choose_kind(
    fake: FakeDiscord, commons: Commons, circle: StoredMessage, member: int, kind: str
) -> StoredMessage:
    """Pick a kind in the "Add someone" select; returns the private who-is-it question."""
    picked = await fake.click(circle, f"circle:add:{commons.guild_id}", member, values=[kind])
    await picked.response()
    assert picked.is_ephemeral
    return await picked.original_message()


async def add_member(
    fake: FakeDiscord, commons: Commons, circle: StoredMessage, member: int, kind: str, who: int
) -> StoredMessage:
    """Add server member `who` under `kind`; returns the circle as it reads afterwards."""
    question = await choose_kind(fake, commons, circle, member, kind)
    cid = f"circle:pick:{commons.guild_id}:{kind}"
    done = await fake.click(question, cid, member, values=[str(who)])
    await done.response()
    return await done.original_message()


async def add_name(
    fake: FakeDiscord,
    commons: Commons,
    circle: StoredMessage,
    member: int,
    kind: str,
    name: str,
    professional: str = "",
) -> StoredMessage:
    """Add a typed name under `kind` through the form; returns the circle sent back."""
    question = await choose_kind(fake, commons, circle, member, kind)
    opened = await fake.click(question, f"circle:name:{commons.guild_id}:{kind}", member)
    await opened.response()
    assert opened.modal is not None, "the name button should open a form"
    assert opened.modal["custom_id"] == f"circle:name-form:{commons.guild_id}:{kind}"
    values = {"circle-name": name}
    if professional:
        values["circle-professional"] = professional
    sent = await fake.submit_modal(opened, values)
    await sent.response(timeout=30)
    assert sent.is_ephemeral
    return await sent.original_message()


async def click(
    fake: FakeDiscord, message: StoredMessage, cid: str, member: int, **kw: Any
) -> StoredMessage:
    handle = await fake.click(message, cid, member, **kw)
    await handle.response(timeout=30)
    return await handle.answer()


def description(message: StoredMessage) -> str:
    [embed] = message.embeds
    return str(embed.get("description", ""))


def kind_line(message: StoredMessage, kind: str) -> str:
    """The line of the circle's description that lists who gives `kind` of support."""
    label = f"**{kind.capitalize()}**"
    [line] = [ln for ln in description(message).splitlines() if label in ln]
    return line


def gap_ideas(message: StoredMessage) -> list[str]:
    """The lines under "Ideas for the gaps" in the circle's description."""
    lines = description(message).splitlines()
    if "**Ideas for the gaps**" not in lines:
        return []
    start = lines.index("**Ideas for the gaps**") + 1
    ideas = []
    for line in lines[start:]:
        if not line:
            break
        ideas.append(line)
    return ideas


def options_of(message: StoredMessage, cid: str) -> dict[str, str]:
    """A select's options on `message`: label -> value."""
    for row in message.components:
        for component in row.get("components", []):
            if component.get("custom_id") == cid:
                return {o["label"]: o["value"] for o in component.get("options", [])}
    raise AssertionError(f"no select {cid!r} on the message")


async def circle_rows(db: Database, commons: Commons, member: int) -> list[CirclePerson]:
    async with db.session() as session:
        rows = await session.scalars(
            select(CirclePerson)
            .where(CirclePerson.guild_id == commons.guild_id, CirclePerson.user_id == member)
            .order_by(CirclePerson.id)
        )
        return list(rows.all())


async def notes_of(db: Database, sender: int) -> list[ThinkingNote]:
    async with db.session() as session:
        rows = await session.scalars(
            select(ThinkingNote).where(ThinkingNote.sender_id == sender).order_by(ThinkingNote.id)
        )
        return list(rows.all())


async def outbox_rows(db: Database, kind: str) -> list[OutboxMessage]:
    async with db.session() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
        return list(rows.all())
