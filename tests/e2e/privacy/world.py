"""A server for the privacy end-to-end tests, and helpers that drive every feature a member's
data comes from through real commands, then read /privacy and /audit answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Checkin, SupportRequest
from bot.services.privacy.member_data import scan
from tests.e2e.buddies.world import start_round_as
from tests.e2e.driver import run as run  # (re-exported for this world's tests)
from tests.e2e.driver import settle
from tests.e2e.escalation.world import ALERT_TITLE
from tests.fakediscord import FakeDiscord, Member, StoredMessage, World
from tests.helpers import FrozenClock

MANAGE_GUILD = 1 << 5
EXPORT_FILE = "kinfolk-my-data.json"
EXPORT_TEXT = "kinfolk-my-data.txt"
NOTHING_KEPT = "Kinfolk keeps nothing about you in this server."
ERASED_MEMBER = "(erased member)"


@dataclass
class Refuge:
    world: World
    guild_id: int
    owner_id: int
    general_id: int
    alerts_id: int
    support_id: int
    buddies_id: int
    moderators_role: int
    mod: int
    alice: int
    bob: int
    cai: int
    # A second server Alice is also in: what she does there is not this server's to erase.
    elsewhere_id: int
    elsewhere_general_id: int

    def where(self, member: int) -> tuple[int, int, int]:
        return self.guild_id, self.general_id, member

    def elsewhere(self) -> Refuge:
        """The same people, acting in the other server."""
        return replace(self, guild_id=self.elsewhere_id, general_id=self.elsewhere_general_id)


def build_refuge() -> Refuge:
    world = World()
    guild = world.add_guild("Refuge")
    channels = {
        name: world.add_text_channel(guild.id, name).id
        for name in ("general", "mod-alerts", "support", "buddies")
    }
    moderators = world.add_role(guild.id, "Moderators", permissions=MANAGE_GUILD)
    alice = world.add_member(guild.id, "alice").user
    elsewhere = world.add_guild("Elsewhere")
    elsewhere_general = world.add_text_channel(elsewhere.id, "general")
    elsewhere.members[alice.id] = Member(alice, elsewhere.id)
    return Refuge(
        world=world,
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=channels["general"],
        alerts_id=channels["mod-alerts"],
        support_id=channels["support"],
        buddies_id=channels["buddies"],
        moderators_role=moderators.id,
        mod=world.add_member(guild.id, "mod", roles=[moderators.id]).id,
        alice=alice.id,
        bob=world.add_member(guild.id, "bob").id,
        cai=world.add_member(guild.id, "cai").id,
        elsewhere_id=elsewhere.id,
        elsewhere_general_id=elsewhere_general.id,
    )


# ----- acting ---------------------------------------------------------------------------


async def reply(
    fake: FakeDiscord, refuge: Refuge, member: int, command: str, /, **options: Any
) -> str:
    """Run a command whose answer must be private; returns its text."""
    handle = await run(fake, refuge, member, command, **options)
    message = await handle.answer()
    assert handle.is_ephemeral, f"/{command} answered in public"
    return message.content


async def set_up_escalation(fake: FakeDiscord, refuge: Refuge) -> None:
    options = {
        "alert_channel": refuge.alerts_id,
        "moderator_role": refuge.moderators_role,
        "support_channel": refuge.support_id,
    }
    handle = await run(fake, refuge, refuge.owner_id, "setup escalation", **options)
    await handle.original_message()


async def set_up_privacy(fake: FakeDiscord, refuge: Refuge, **options: int) -> str:
    return await reply(fake, refuge, refuge.owner_id, "setup privacy", **options)


async def checkin_with_note(
    fake: FakeDiscord, refuge: Refuge, db: Database, member: int, mood: int, note: str
) -> Checkin:
    """/checkin (agreeing first if asked), tap `mood`, then add a private note."""
    message = await (await run(fake, refuge, member, "checkin")).original_message()
    consent = f"checkin:consent:{refuge.guild_id}:yes"
    if consent in message.custom_ids:
        message = await (await fake.click(message, consent, member)).original_message()
    tapped = await fake.click(message, f"checkin:mood:{refuge.guild_id}:{mood}", member)
    saved = await tapped.original_message()
    latest = (await checkins_of(db, member))[-1]
    opened = await fake.click(saved, f"checkin:note:{latest.id}", member)
    await opened.response()
    assert opened.modal is not None, "the note button should open a form"
    sent = await fake.submit_modal(opened, {"checkin-note": note})
    assert "note is saved" in (await sent.original_message()).content
    return latest


async def talk_with_context(
    fake: FakeDiscord, refuge: Refuge, db: Database, member: int, feeling: str, context: str
) -> int:
    """/talk, then "add what's going on" in the form; returns the request's id."""
    handle = await run(fake, refuge, member, "talk", feeling=feeling)
    answer = await handle.original_message()
    request_id = (await latest_request(db, member)).id
    opened = await fake.click(answer, f"talk:context:{request_id}", member)
    await opened.response()
    assert opened.modal is not None
    sent = await fake.submit_modal(opened, {"talk-context": context})
    assert "added that" in (await sent.original_message()).content
    return request_id


def alerts(fake: FakeDiscord, refuge: Refuge) -> list[StoredMessage]:
    return [
        m
        for m in fake.messages(refuge.alerts_id)
        if m.embeds and m.embeds[0].get("title", "").endswith(ALERT_TITLE)
    ]


async def alert_for(fake: FakeDiscord, refuge: Refuge, request_id: int) -> StoredMessage:
    """The alert carrying this request's buttons, once the outbox has posted it."""

    def found() -> StoredMessage | None:
        claim = f"talk:claim:{request_id}"
        return next((m for m in alerts(fake, refuge) if claim in m.custom_ids), None)

    return await fake.wait_for(found, what=f"the alert for request {request_id}")


async def claim(fake: FakeDiscord, refuge: Refuge, request_id: int, moderator: int) -> None:
    alert = await alert_for(fake, refuge, request_id)
    claimed = await fake.click(alert, f"talk:claim:{request_id}", moderator)
    await claimed.response()
    await fake.wait_for(lambda: claimed.followups, what="the claim follow-up")


async def resolve(fake: FakeDiscord, refuge: Refuge, request_id: int, moderator: int) -> None:
    alert = await alert_for(fake, refuge, request_id)
    resolved = await fake.click(alert, f"talk:resolve:{request_id}", moderator)
    await resolved.response()


async def circle_add_name(
    fake: FakeDiscord, refuge: Refuge, member: int, kind: str, name: str
) -> StoredMessage:
    """/circle, "Add someone…" → `kind`, "Type a name instead", submit the form."""
    shown = await open_circle(fake, refuge, member)
    picked = await fake.click(shown, f"circle:add:{refuge.guild_id}", member, values=[kind])
    question = await picked.original_message()
    opened = await fake.click(question, f"circle:name:{refuge.guild_id}:{kind}", member)
    await opened.response()
    assert opened.modal is not None
    sent = await fake.submit_modal(opened, {"circle-name": name, "circle-professional": "no"})
    shown = await sent.original_message()
    await fake.wait_for(lambda: bool(shown.embeds), what="the circle shown again")
    assert f"**{kind.capitalize()}**" in shown.embeds[0]["description"]
    assert name in shown.embeds[0]["description"]
    return shown


async def circle_add_member(
    fake: FakeDiscord, refuge: Refuge, member: int, kind: str, person: int
) -> StoredMessage:
    """/circle, "Add someone…" → `kind`, then pick a server member."""
    shown = await open_circle(fake, refuge, member)
    picked = await fake.click(shown, f"circle:add:{refuge.guild_id}", member, values=[kind])
    question = await picked.original_message()
    chosen = await fake.click(
        question, f"circle:pick:{refuge.guild_id}:{kind}", member, values=[str(person)]
    )
    await chosen.response()
    shown = await chosen.original_message()
    assert shown.embeds, f"the circle was not shown again: {shown.content}"
    assert f"<@{person}>" in shown.embeds[0]["description"]
    return shown


async def open_circle(fake: FakeDiscord, refuge: Refuge, member: int) -> StoredMessage:
    handle = await run(fake, refuge, member, "circle")
    message = await handle.original_message()
    await fake.wait_for(lambda: bool(message.components), timeout=30, what="/circle's answer")
    return message


async def export(fake: FakeDiscord, refuge: Refuge, member: int) -> tuple[StoredMessage, dict]:
    """/privacy export: the private answer, and the JSON file it carries, parsed."""
    message, exported, _ = await export_both(fake, refuge, member)
    return message, exported


async def export_both(
    fake: FakeDiscord, refuge: Refuge, member: int
) -> tuple[StoredMessage, dict, str]:
    """/privacy export: the private answer, its JSON file parsed, and its text file."""
    handle = await run(fake, refuge, member, "privacy export")
    assert handle.is_ephemeral
    message = await handle.original_message()
    await fake.wait_for(lambda: len(message.attachments) == 2, what="the export files")
    return message, json.loads(message.file(EXPORT_FILE)), message.file(EXPORT_TEXT).decode()


def items(exported: dict, section: str) -> list[dict]:
    """The items of one section of an export's JSON."""
    return exported["sections"][section]["items"]


async def audit_lines(fake: FakeDiscord, refuge: Refuge, member: int) -> list[str]:
    """/audit recent as `member`: one line per action, newest first as the bot lists them."""
    text = await reply(fake, refuge, member, "audit recent")
    return text.splitlines()[1:]


async def move_to(fake: FakeDiscord, db: Database, clock: FrozenClock, when: datetime) -> None:
    """Move the clock forward to `when`, then wait until everything due by then is handled."""
    assert when >= clock.now(), "the clock only moves forward"
    clock._now = when
    await settle(fake, db, clock)


async def leave(fake: FakeDiscord, refuge: Refuge, member: int) -> None:
    """The member leaves the server: Discord sends GUILD_MEMBER_REMOVE (members intent)."""
    del refuge.world.guilds[refuge.guild_id].members[member]
    await fake.dispatch(
        "GUILD_MEMBER_REMOVE",
        {"guild_id": str(refuge.guild_id), "user": refuge.world.users[member].payload()},
    )


async def rejoin(fake: FakeDiscord, refuge: Refuge, member: int) -> None:
    """The member comes back: Discord sends GUILD_MEMBER_ADD (members intent)."""
    back = Member(refuge.world.users[member], refuge.guild_id)
    refuge.world.guilds[refuge.guild_id].members[member] = back
    await fake.dispatch("GUILD_MEMBER_ADD", {**back.payload(), "guild_id": str(refuge.guild_id)})


# ----- reading the database -------------------------------------------------------------
async def checkins_of(db: Database, member: int) -> list[Checkin]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Checkin).where(Checkin.user_id == member).order_by(Checkin.id)
        )
        return list(rows.all())


async def latest_request(db: Database, member: int) -> SupportRequest:
    async with db.session() as session:
        row = await session.scalar(
            select(SupportRequest)
            .where(SupportRequest.member_id == member)
            .order_by(SupportRequest.id.desc())
        )
    assert row is not None
    return row


async def where_held(db: Database, member: int) -> list[tuple[str, str]]:
    """Every (table, column) of the whole database that still holds the member's id."""
    async with db.session() as session:
        return await scan(session, member)


# ----- a member who used everything -------------------------------------------------------
CHECKIN_NOTE = "Slept badly again; a hard week at work"
TALK_CONTEXT = "My dad is in hospital again and I can't focus"
OFFER_TOPICS = ("job loss", "new parent")
NOTE_SENT = "Thinking of you this week"
NOTE_RECEIVED = "Glad you're here, Alice"
CIRCLE_NAME = "my sister"


@dataclass
class Story:
    """What Alice did, as ids the tests look for afterwards."""

    checkin_id: int
    claimed_request: int  # claimed and resolved by the moderator: must stay, anonymised
    open_request: int  # nobody acted on it yet: must go


async def start_buddy_round(
    fake: FakeDiscord, refuge: Refuge, db: Database, clock: FrozenClock
) -> None:
    """Preview a round as the owner and press Start; wait for the threads."""
    await start_round_as(fake, refuge.where(refuge.owner_id), db, clock)


async def use_everything(
    fake: FakeDiscord, refuge: Refuge, db: Database, clock: FrozenClock
) -> Story:
    """The server is set up; Alice uses every feature through real commands, and other
    members do things that name her (a block, a circle entry, a note)."""
    owner = refuge.owner_id
    await set_up_escalation(fake, refuge)
    await reply(fake, refuge, owner, "setup buddies", channel=refuge.buddies_id)
    await reply(fake, refuge, owner, "setup reachout", enabled=True)

    alice, bob, cai = refuge.alice, refuge.bob, refuge.cai
    assert (await reply(fake, refuge, alice, "reachout on")).startswith("Done.")
    checkin = await checkin_with_note(fake, refuge, db, alice, 2, CHECKIN_NOTE)

    claimed = await talk_with_context(fake, refuge, db, alice, "struggling", TALK_CONTEXT)
    await claim(fake, refuge, claimed, refuge.mod)
    await resolve(fake, refuge, claimed, refuge.mod)

    async def resolved() -> bool:
        return (await latest_request(db, alice)).status == "resolved"

    await fake.wait_for(resolved, what="the request resolved")
    await move_to(fake, db, clock, clock.now() + timedelta(minutes=2))  # past the cool-down
    await run(fake, refuge, alice, "talk", feeling="chat")
    still_open = await latest_request(db, alice)
    assert still_open.id != claimed
    await alert_for(fake, refuge, still_open.id)

    # A note sent before the two fell out (a block stops notes between them from then on).
    await reply(fake, refuge, alice, "thinking-of-you", member=bob, note=NOTE_SENT)
    for member in (alice, bob, cai, refuge.mod):
        assert (await reply(fake, refuge, member, "buddy join")).startswith("You're in!")
    assert (await reply(fake, refuge, alice, "buddy block", member=bob)).startswith("Done.")
    assert (await reply(fake, refuge, bob, "buddy block", member=alice)).startswith("Done.")
    await start_buddy_round(fake, refuge, db, clock)

    topics = ", ".join(OFFER_TOPICS)
    await reply(fake, refuge, alice, "offer", emotional=True, topics=topics)
    await reply(fake, refuge, cai, "thinking-of-you", member=alice, note=NOTE_RECEIVED)
    await circle_add_name(fake, refuge, alice, "emotional", CIRCLE_NAME)
    await circle_add_member(fake, refuge, bob, "practical", alice)
    await settle(fake, db, clock)
    return Story(checkin.id, claimed, still_open.id)
