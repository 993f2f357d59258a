"""/privacy export, for a person: plain sections a member understands ("Your check-ins",
"Your requests to talk", "What Kinfolk is waiting to send you"), dates in their own
timezone, as a text file to read and a JSON file with the same content for machines.

Every registry column that `/privacy show` counts (`REGISTRY` entries with `what`) has a
section here (`SOURCES`; a test checks that none is missing). What others keep about the
member in confidence (someone's block, someone's private circle) is not theirs to read, and an
anonymous note they received does not name its sender.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n
from bot.db.models import (
    ActivityDay,
    BuddyBlock,
    BuddyGroup,
    BuddyGroupMember,
    BuddyMember,
    BuddyRound,
    Checkin,
    CircleMember,
    CirclePerson,
    GuildSettings,
    MemberActivity,
    MemberLanguage,
    MemberProfile,
    ModeratorDuty,
    OutboxMessage,
    SupportOffer,
    SupportRequest,
    ThinkingNote,
)
from bot.domain.checkins import Mood
from bot.domain.escalation import URGENCY_LABELS, Urgency
from bot.domain.timezones import is_valid_timezone
from bot.i18n import N_, _, number

FORMAT = 1  # the version of the JSON layout


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    items: list[dict[str, Any]]


Row = dict[str, Any]
Reader = Callable[[AsyncSession, int, int, ZoneInfo], Awaitable[list[Row]]]


def _at(value: datetime | None, tz: ZoneInfo) -> str | None:
    """A moment in the member's timezone, to the minute: 2026-12-02 09:30 (+01:00)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(tz)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} ({offset[:3]}:{offset[3:]})"


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _member(user_id: int | None, *, anonymous: bool = False) -> str | None:
    if user_id is None:
        return None
    if anonymous:
        return _("someone who chose to stay anonymous")
    if user_id < 0:
        return _("a member who has since erased their data")
    return _("member {id}").format(id=user_id)


async def _of(
    session: AsyncSession,
    model: Any,
    guild_id: int,
    user_id: int,
    *,
    column: str = "user_id",
    order: tuple[str, ...] = (),
    where: tuple[Any, ...] = (),
) -> list[Any]:
    """The rows of `model` in this server whose `column` is the member, in `order`."""
    statement = select(model).where(
        model.guild_id == guild_id, getattr(model, column) == user_id, *where
    )
    return list(
        (await session.scalars(statement.order_by(*(getattr(model, o) for o in order)))).all()
    )


async def _settings(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, MemberProfile, guild_id, user_id)
    return [
        {
            N_("your timezone"): p.timezone or _("not set (the server's is used)"),
            N_("daily reminder"): p.reminder_time or _("off"),
            N_("reminders stopped because"): p.reminder_stopped,
            N_("you agreed to check-ins"): _at(p.checkin_consent_at, tz),
        }
        for p in rows
    ]


async def _language(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, MemberLanguage, guild_id, user_id)
    return [
        {
            N_("the language Kinfolk writes to you in"): (
                f"{i18n.BY_CODE[i18n.language_for(m.locale)].name} ({m.locale})"
            ),
            N_("last changed"): _at(m.updated_at, tz),
        }
        for m in rows
    ]


async def _duty(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, ModeratorDuty, guild_id, user_id, column="moderator_id")
    return [{N_("on duty as a moderator since"): _at(d.since, tz)} for d in rows]


async def _checkins(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, Checkin, guild_id, user_id, order=("created_at", "id"))
    return [
        {
            N_("when"): _at(c.created_at, tz),
            N_("mood"): _("{mood} ({score} of 5)").format(
                mood=_(Mood(c.mood).label), score=number(c.mood)
            ),
            N_("your private note"): c.note,
            N_("shared in the channel"): _at(c.shared_at, tz),
        }
        for c in rows
    ]


_REQUEST_STATUS = {
    "open": N_("waiting for a moderator"),
    "claimed": N_("a moderator is with you"),
    "resolved": N_("resolved"),
    "cancelled": N_("closed: you said you were OK, or cancelled it"),
}


async def _requests(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(
        s, SupportRequest, guild_id, user_id, column="member_id", order=("created_at", "id")
    )
    out = []
    for r in rows:
        try:
            urgency = _(URGENCY_LABELS[Urgency(r.urgency)])
        except ValueError:
            urgency = r.urgency
        out.append(
            {
                N_("request"): r.id,
                N_("asked"): _at(r.created_at, tz),
                N_("how you felt"): urgency,
                N_("what you wrote"): r.context,
                N_("now"): _shown(_REQUEST_STATUS, r.status),
                N_("picked up by"): _member(r.claimed_by),
                N_("picked up"): _at(r.claimed_at, tz),
                N_("closed"): _at(r.closed_at, tz),
            }
        )
    return out


async def _programme(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, BuddyMember, guild_id, user_id)
    return [
        {
            N_("taking part"): m.status,
            N_("how often"): m.frequency,
            N_("paused until"): _at(m.paused_until, tz),
            N_("asked for a new buddy"): m.wants_rematch,
            N_("joined"): _at(m.joined_at, tz),
        }
        for m in rows
    ]


_ANSWERS = {"yes": N_("yes"), "not_yet": N_("not yet"), "not_fit": N_("not a good fit")}


async def _pairings(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    mine = (
        await s.execute(
            select(BuddyGroupMember, BuddyGroup, BuddyRound)
            .join(BuddyGroup, BuddyGroup.id == BuddyGroupMember.group_id)
            .join(BuddyRound, BuddyRound.id == BuddyGroup.round_id)
            .where(BuddyGroup.guild_id == guild_id, BuddyGroupMember.user_id == user_id)
            .order_by(BuddyRound.started_at, BuddyGroup.id)
        )
    ).all()
    out = []
    for member, group, round_ in mine:
        others = await s.scalars(
            select(BuddyGroupMember.user_id).where(
                BuddyGroupMember.group_id == group.id, BuddyGroupMember.user_id != user_id
            )
        )
        out.append(
            {
                N_("round"): round_.number,
                N_("started"): _at(round_.started_at, tz),
                N_("ends"): _at(round_.ends_at, tz),
                N_("paired with"): sorted(_member(o) or "" for o in others),
                N_("did you connect?"): _shown(_ANSWERS, member.answer),
                N_("you left the pairing"): _at(member.left_at, tz),
            }
        )
    return out


async def _blocks(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, BuddyBlock, guild_id, user_id, order=("created_at",))
    return [
        {
            N_("never paired with"): _member(b.blocked_id),
            N_("because you chose"): _("not a good fit") if b.reason == "not_fit" else _("block"),
            N_("since"): _at(b.created_at, tz),
        }
        for b in rows
    ]


async def _circle(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, CirclePerson, guild_id, user_id, order=("kind", "id"))
    return [
        {
            N_("kind of support"): p.kind,
            N_("who"): p.person_name if p.person_user_id is None else _member(p.person_user_id),
            N_("a professional"): p.professional,
            N_("added"): _at(p.created_at, tz),
        }
        for p in rows
    ]


async def _offers(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, SupportOffer, guild_id, user_id)
    return [
        {
            N_("kinds of support you offer"): list(o.kinds or []),
            N_("topics"): json.loads(o.topics) if o.topics else [],
            N_("shared with your buddy"): o.share_with_buddy,
            N_("last changed"): _at(o.updated_at, tz),
        }
        for o in rows
    ]


async def _choices(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, CircleMember, guild_id, user_id)
    return [
        {
            N_("thinking-of-you notes"): _("off") if m.notes_off else _("on"),
            N_("milestones shared"): m.milestones,
            N_("with the community since (for milestones)"): _day(m.joined_on),
            N_("last changed"): _at(m.updated_at, tz),
        }
        for m in rows
    ]


_NOTE_STATUS = {
    "queued": N_("on its way"),
    "sent": N_("delivered"),
    "undelivered": N_("could not be delivered"),
    "reported": N_("reported to the moderators"),
    "closed": N_("reported; the moderators closed the report"),
    "withdrawn": N_("not delivered"),
}


async def _notes_sent(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(
        s, ThinkingNote, guild_id, user_id, column="sender_id", order=("created_at", "id")
    )
    return [
        {
            N_("when"): _at(n.created_at, tz),
            N_("to"): _member(n.recipient_id),
            N_("your words"): n.note,
            N_("anonymously"): n.anonymous,
            N_("now"): _shown(_NOTE_STATUS, n.status),
        }
        for n in rows
    ]


async def _notes_received(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(
        s, ThinkingNote, guild_id, user_id, column="recipient_id", order=("created_at", "id")
    )
    return [
        {
            N_("when"): _at(n.created_at, tz),
            N_("from"): _member(n.sender_id, anonymous=n.anonymous),
            N_("their words"): n.note,
            N_("now"): _shown(_NOTE_STATUS, n.status),
        }
        for n in rows
        if n.status != "withdrawn"  # never delivered: not something they received
    ]


_CONSENT = {"yes": N_("yes"), "no": N_("no"), None: N_("not asked yet")}


async def _reachout(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, MemberActivity, guild_id, user_id)
    return [
        {
            N_("first seen"): _at(a.first_seen_at, tz),
            N_("last active"): _at(a.last_seen_at, tz),
            N_("may Kinfolk DM you if you go quiet"): _shown(_CONSENT, a.dm_consent),
            N_("quiet hours"): f"{a.quiet_start}–{a.quiet_end}" if a.quiet_start else None,
            N_("reach-out paused until"): _at(a.paused_until, tz),
            N_("last reached out to you"): _at(a.last_reached_at, tz),
            N_("your last answer"): a.last_answer,
        }
        for a in rows
    ]


async def _days(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, ActivityDay, guild_id, user_id, order=("day",))
    return [
        {
            N_("day (UTC)"): _day(d.day),
            N_("messages"): d.messages,
            N_("reactions"): d.reactions,
            N_("check-ins"): d.checkins,
            N_("commands"): d.commands,
        }
        for d in rows
    ]


_MESSAGE_KINDS = {
    "checkin_reminder": N_("your check-in reminder"),
    "reachout_dm": N_("a note asking how you are"),
    "buddy_intro": N_("your buddy introduction"),
    "buddy_checkup": N_("“did you connect?”"),
    "circle_note": N_("a thinking-of-you note"),
    "circle_note_undelivered": N_("word that your note couldn't be delivered"),
    "circle_milestone": N_("a milestone"),
    "talk.member_update": N_("news about your request to talk"),
    "talk.again": N_("news about your request to talk"),
    "talk.withdrawn": N_("news about your request to talk"),
}
_MESSAGE_STATUS = {
    "pending": N_("waiting to be sent"),
    "sending": N_("being sent"),
    "sent": N_("sent"),
    "failed": N_("could not be sent"),
}


async def _messages(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(
        s,
        OutboxMessage,
        guild_id,
        user_id,
        column="target_id",
        where=(OutboxMessage.target_type == "user",),
        order=("due_at", "id"),
    )
    # Kinds and times only: a payload holds other people's ids and words.
    return [
        {
            N_("what"): _(_MESSAGE_KINDS.get(m.kind, N_("a message from Kinfolk"))),
            N_("now"): _shown(_MESSAGE_STATUS, m.status),
            N_("due"): _at(m.due_at, tz),
            N_("sent"): _at(m.sent_at, tz),
        }
        for m in rows
    ]


# (section key, title, what each registry column's rows become).
SECTIONS: tuple[tuple[str, str, tuple[Reader, ...]], ...] = (
    ("settings", N_("Your settings"), (_settings, _language, _duty)),
    ("checkins", N_("Your check-ins"), (_checkins,)),
    ("requests_to_talk", N_("Your requests to talk"), (_requests,)),
    ("buddy_programme", N_("Your place in the buddy programme"), (_programme,)),
    ("buddy_rounds", N_("Your buddy rounds"), (_pairings,)),
    ("blocks", N_("People you asked never to be paired with"), (_blocks,)),
    ("circle", N_("Your support circle"), (_circle, _choices)),
    ("offers", N_("The support you offer"), (_offers,)),
    ("notes_sent", N_("Thinking-of-you notes you sent"), (_notes_sent,)),
    ("notes_received", N_("Thinking-of-you notes you received"), (_notes_received,)),
    ("reach_out", N_("Your activity and reach-out"), (_reachout,)),
    ("activity_days", N_("Days you were active (counts only, never what you wrote)"), (_days,)),
    ("messages", N_("What Kinfolk is waiting to send you, or sent lately"), (_messages,)),
)

# Which reader covers each registry column that /privacy show counts.
SOURCES: dict[tuple[str, str], Reader] = {
    ("member_profiles", "user_id"): _settings,
    ("member_languages", "user_id"): _language,
    ("moderator_duty", "moderator_id"): _duty,
    ("checkins", "user_id"): _checkins,
    ("support_requests", "member_id"): _requests,
    ("buddy_members", "user_id"): _programme,
    ("buddy_group_members", "user_id"): _pairings,
    ("buddy_blocks", "user_id"): _blocks,
    ("circle_people", "user_id"): _circle,
    ("circle_members", "user_id"): _choices,
    ("support_offers", "user_id"): _offers,
    ("thinking_notes", "sender_id"): _notes_sent,
    ("thinking_notes", "recipient_id"): _notes_received,
    ("member_activity", "user_id"): _reachout,
    ("activity_days", "user_id"): _days,
    ("outbox_messages", "target_id"): _messages,
}


async def member_zone(session: AsyncSession, guild_id: int, user_id: int) -> ZoneInfo:
    """The member's timezone; else the server's; else UTC."""
    for name in (
        await session.scalar(
            select(MemberProfile.timezone).where(
                MemberProfile.guild_id == guild_id, MemberProfile.user_id == user_id
            )
        ),
        await session.scalar(
            select(GuildSettings.timezone).where(GuildSettings.guild_id == guild_id)
        ),
    ):
        if name and is_valid_timezone(name):
            return ZoneInfo(name)
    return ZoneInfo("UTC")


@dataclass(frozen=True)
class Export:
    guild_id: int
    user_id: int
    timezone: str
    made_at: str
    sections: list[Section]

    def section(self, key: str) -> list[dict[str, Any]]:
        return next((s.items for s in self.sections if s.key == key), [])

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "server_id": self.guild_id,
            "member_id": self.user_id,
            "timezone": self.timezone,
            "made": self.made_at,
            "sections": {s.key: {"title": s.title, "items": s.items} for s in self.sections},
        }

    def as_text(self) -> str:
        lines = [
            _("What Kinfolk keeps about you in this server"),
            _("Made {made}. Times are in {timezone}.").format(
                made=self.made_at, timezone=self.timezone
            ),
            _("The same content is in kinfolk-my-data.json, for other programs."),
        ]
        for section in self.sections:
            lines += ["", section.title, "=" * len(section.title)]
            if not section.items:
                lines.append(_("Nothing."))
            for item in section.items:
                lines.append("")
                lines += [
                    # The labels are marked where the rows are read (N_): the JSON keeps
                    # them in English, the text shows them in the member's language.
                    f"- {_(key)}: {_text(value)}"
                    for key, value in item.items()
                    if value is not None
                ]
        return "\n".join(lines) + "\n"


def _shown(words: dict[Any, str], value: Any) -> Any:
    """A stored value in the member's words (`words` is marked with N_), else as stored."""
    known = words.get(value)
    return value if known is None else _(known)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else _("none")
    return str(value).replace("\n", "\n  ")


async def build(session: AsyncSession, guild_id: int, user_id: int, now: datetime) -> Export:
    tz = await member_zone(session, guild_id, user_id)
    sections = []
    for key, title, readers in SECTIONS:
        items: list[dict[str, Any]] = []
        for reader in readers:
            items += await reader(session, guild_id, user_id, tz)
        sections.append(Section(key, _(title), items))
    return Export(guild_id, user_id, str(tz.key), _at(now, tz) or "", sections)
