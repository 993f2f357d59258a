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
        return "someone who chose to stay anonymous"
    if user_id < 0:
        return "a member who has since erased their data"
    return f"member {user_id}"


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
            "your timezone": p.timezone or "not set (the server's is used)",
            "daily reminder": p.reminder_time or "off",
            "reminders stopped because": p.reminder_stopped,
            "you agreed to check-ins": _at(p.checkin_consent_at, tz),
        }
        for p in rows
    ]


async def _duty(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, ModeratorDuty, guild_id, user_id, column="moderator_id")
    return [{"on duty as a moderator since": _at(d.since, tz)} for d in rows]


async def _checkins(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, Checkin, guild_id, user_id, order=("created_at", "id"))
    return [
        {
            "when": _at(c.created_at, tz),
            "mood": f"{Mood(c.mood).label} ({c.mood} of 5)",
            "your private note": c.note,
            "shared in the channel": _at(c.shared_at, tz),
        }
        for c in rows
    ]


_REQUEST_STATUS = {
    "open": "waiting for a moderator",
    "claimed": "a moderator is with you",
    "resolved": "resolved",
    "cancelled": "closed: you said you were OK, or cancelled it",
}


async def _requests(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(
        s, SupportRequest, guild_id, user_id, column="member_id", order=("created_at", "id")
    )
    out = []
    for r in rows:
        try:
            urgency = URGENCY_LABELS[Urgency(r.urgency)]
        except ValueError:
            urgency = r.urgency
        out.append(
            {
                "request": r.id,
                "asked": _at(r.created_at, tz),
                "how you felt": urgency,
                "what you wrote": r.context,
                "now": _REQUEST_STATUS.get(r.status, r.status),
                "picked up by": _member(r.claimed_by),
                "picked up": _at(r.claimed_at, tz),
                "closed": _at(r.closed_at, tz),
            }
        )
    return out


async def _programme(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, BuddyMember, guild_id, user_id)
    return [
        {
            "taking part": m.status,
            "how often": m.frequency,
            "paused until": _at(m.paused_until, tz),
            "asked for a new buddy": m.wants_rematch,
            "joined": _at(m.joined_at, tz),
        }
        for m in rows
    ]


_ANSWERS = {"yes": "yes", "not_yet": "not yet", "not_fit": "not a good fit"}


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
                "round": round_.number,
                "started": _at(round_.started_at, tz),
                "ends": _at(round_.ends_at, tz),
                "paired with": sorted(_member(o) or "" for o in others),
                "did you connect?": _ANSWERS.get(member.answer or "", member.answer),
                "you left the pairing": _at(member.left_at, tz),
            }
        )
    return out


async def _blocks(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, BuddyBlock, guild_id, user_id, order=("created_at",))
    return [
        {
            "never paired with": _member(b.blocked_id),
            "because you chose": "not a good fit" if b.reason == "not_fit" else "block",
            "since": _at(b.created_at, tz),
        }
        for b in rows
    ]


async def _circle(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, CirclePerson, guild_id, user_id, order=("kind", "id"))
    return [
        {
            "kind of support": p.kind,
            "who": p.person_name if p.person_user_id is None else _member(p.person_user_id),
            "a professional": p.professional,
            "added": _at(p.created_at, tz),
        }
        for p in rows
    ]


async def _offers(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, SupportOffer, guild_id, user_id)
    return [
        {
            "kinds of support you offer": list(o.kinds or []),
            "topics": json.loads(o.topics) if o.topics else [],
            "shared with your buddy": o.share_with_buddy,
            "last changed": _at(o.updated_at, tz),
        }
        for o in rows
    ]


async def _choices(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, CircleMember, guild_id, user_id)
    return [
        {
            "thinking-of-you notes": "off" if m.notes_off else "on",
            "milestones shared": m.milestones,
            "with the community since (for milestones)": _day(m.joined_on),
            "last changed": _at(m.updated_at, tz),
        }
        for m in rows
    ]


_NOTE_STATUS = {
    "queued": "on its way",
    "sent": "delivered",
    "undelivered": "could not be delivered",
    "reported": "reported to the moderators",
    "closed": "reported; the moderators closed the report",
    "withdrawn": "not delivered",
}


async def _notes_sent(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(
        s, ThinkingNote, guild_id, user_id, column="sender_id", order=("created_at", "id")
    )
    return [
        {
            "when": _at(n.created_at, tz),
            "to": _member(n.recipient_id),
            "your words": n.note,
            "anonymously": n.anonymous,
            "now": _NOTE_STATUS.get(n.status, n.status),
        }
        for n in rows
    ]


async def _notes_received(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(
        s, ThinkingNote, guild_id, user_id, column="recipient_id", order=("created_at", "id")
    )
    return [
        {
            "when": _at(n.created_at, tz),
            "from": _member(n.sender_id, anonymous=n.anonymous),
            "their words": n.note,
            "now": _NOTE_STATUS.get(n.status, n.status),
        }
        for n in rows
        if n.status != "withdrawn"  # never delivered: not something they received
    ]


_CONSENT = {"yes": "yes", "no": "no", None: "not asked yet"}


async def _reachout(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, MemberActivity, guild_id, user_id)
    return [
        {
            "first seen": _at(a.first_seen_at, tz),
            "last active": _at(a.last_seen_at, tz),
            "may Kinfolk DM you if you go quiet": _CONSENT.get(a.dm_consent, a.dm_consent),
            "quiet hours": f"{a.quiet_start}–{a.quiet_end}" if a.quiet_start else None,
            "reach-out paused until": _at(a.paused_until, tz),
            "last reached out to you": _at(a.last_reached_at, tz),
            "your last answer": a.last_answer,
        }
        for a in rows
    ]


async def _days(s: AsyncSession, guild_id: int, user_id: int, tz: ZoneInfo) -> list[Row]:
    rows = await _of(s, ActivityDay, guild_id, user_id, order=("day",))
    return [
        {
            "day (UTC)": _day(d.day),
            "messages": d.messages,
            "reactions": d.reactions,
            "check-ins": d.checkins,
            "commands": d.commands,
        }
        for d in rows
    ]


_MESSAGE_KINDS = {
    "checkin_reminder": "your check-in reminder",
    "reachout_dm": "a note asking how you are",
    "buddy_intro": "your buddy introduction",
    "buddy_checkup": "“did you connect?”",
    "circle_note": "a thinking-of-you note",
    "circle_note_undelivered": "word that your note couldn't be delivered",
    "circle_milestone": "a milestone",
    "talk.member_update": "news about your request to talk",
    "talk.again": "news about your request to talk",
    "talk.withdrawn": "news about your request to talk",
}
_MESSAGE_STATUS = {
    "pending": "waiting to be sent",
    "sending": "being sent",
    "sent": "sent",
    "failed": "could not be sent",
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
            "what": _MESSAGE_KINDS.get(m.kind, "a message from Kinfolk"),
            "now": _MESSAGE_STATUS.get(m.status, m.status),
            "due": _at(m.due_at, tz),
            "sent": _at(m.sent_at, tz),
        }
        for m in rows
    ]


# (section key, title, what each registry column's rows become).
SECTIONS: tuple[tuple[str, str, tuple[Reader, ...]], ...] = (
    ("settings", "Your settings", (_settings, _duty)),
    ("checkins", "Your check-ins", (_checkins,)),
    ("requests_to_talk", "Your requests to talk", (_requests,)),
    ("buddy_programme", "Your place in the buddy programme", (_programme,)),
    ("buddy_rounds", "Your buddy rounds", (_pairings,)),
    ("blocks", "People you asked never to be paired with", (_blocks,)),
    ("circle", "Your support circle", (_circle, _choices)),
    ("offers", "The support you offer", (_offers,)),
    ("notes_sent", "Thinking-of-you notes you sent", (_notes_sent,)),
    ("notes_received", "Thinking-of-you notes you received", (_notes_received,)),
    ("reach_out", "Your activity and reach-out", (_reachout,)),
    ("activity_days", "Days you were active (counts only, never what you wrote)", (_days,)),
    ("messages", "What Kinfolk is waiting to send you, or sent lately", (_messages,)),
)

# Which reader covers each registry column that /privacy show counts.
SOURCES: dict[tuple[str, str], Reader] = {
    ("member_profiles", "user_id"): _settings,
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
            "What Kinfolk keeps about you in this server",
            f"Made {self.made_at}. Times are in {self.timezone}.",
            "The same content is in kinfolk-my-data.json, for other programs.",
        ]
        for section in self.sections:
            lines += ["", section.title, "=" * len(section.title)]
            if not section.items:
                lines.append("Nothing.")
            for item in section.items:
                lines.append("")
                lines += [
                    f"- {key}: {_text(value)}" for key, value in item.items() if value is not None
                ]
        return "\n".join(lines) + "\n"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "none"
    return str(value).replace("\n", "\n  ")


async def build(session: AsyncSession, guild_id: int, user_id: int, now: datetime) -> Export:
    tz = await member_zone(session, guild_id, user_id)
    sections = []
    for key, title, readers in SECTIONS:
        items: list[dict[str, Any]] = []
        for reader in readers:
            items += await reader(session, guild_id, user_id, tz)
        sections.append(Section(key, title, items))
    return Export(guild_id, user_id, str(tz.key), _at(now, tz) or "", sections)
