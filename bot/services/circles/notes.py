"""Thinking-of-you notes: "<sender> is thinking of you", by DM, through the outbox.

Limits keep them welcome: a few a day from one sender, one a week to one recipient.
Recipients can turn them off, and report one to the moderators in one tap. A note that cannot
be delivered (closed DMs) is not shown to anyone; the sender is told kindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import locks
from bot.db.engine import Database
from bot.db.models import ThinkingNote
from bot.db.repositories import audit, outbox
from bot.db.repositories import buddies as buddy_repo
from bot.db.repositories import circles as repo
from bot.db.repositories import escalation as escalation_repo
from bot.domain.checkins import InvalidInput
from bot.domain.circles import NOTE_MAX_CHARS, NOTE_RECIPIENT_GAP, may_send_note
from bot.i18n import N_, _, ngettext, number
from bot.services.privacy.pseudonyms import tombstone

KIND_NOTE = "circle_note"
KIND_REPORT = "circle_note_report"
NOTE_VIEW = "circle_note"
REPORT_VIEW = "circle_note_report"


NOT_RECEIVING = N_("They've chosen not to receive these notes right now. Nothing was sent.")
NOT_A_MEMBER = N_(
    "They're not a member of this server, so I can't send them a note here. Nothing was sent."
)


@dataclass(frozen=True)
class Queued:
    note_id: int
    anonymous: bool


async def send(
    db: Database,
    clock: Clock,
    guild_id: int,
    sender_id: int,
    recipient_id: int,
    *,
    text: str | None = None,
    anonymous: bool = False,
    recipient_is_bot: bool = False,
    recipient_in_server: bool = True,
) -> Queued:
    """Check the limits and choices, then save the note and queue its DM together.

    A buddy block between the two, made by either, refuses the note: a recipient who
    blocked the sender is refused in the same words as one who turned notes off, so the
    block is never revealed."""
    if recipient_id == sender_id:
        raise InvalidInput(_("You can't send one to yourself, but we're thinking of you too. 💛"))
    if recipient_is_bot:
        raise InvalidInput(_("Bots don't get notes; pick a person to think of."))
    if not recipient_in_server:
        raise InvalidInput(_(NOT_A_MEMBER))
    note = " ".join((text or "").split()) or None
    if note is not None and len(note) > NOTE_MAX_CHARS:
        raise InvalidInput(
            ngettext(
                "Please keep the note under {count} character. Nothing was sent.",
                "Please keep the note under {count} characters. Nothing was sent.",
                NOTE_MAX_CHARS,
            ).format(count=number(NOTE_MAX_CHARS))
        )
    now = clock.now()
    async with db.session() as session:
        # Two notes asked for at once by one sender both count before either is saved;
        # this makes the second wait, so the limits hold.
        await locks.hold(session, f"notes:{guild_id}:{sender_id}")
        settings = await repo.get_settings(session, guild_id)
        if anonymous and not (settings is not None and settings.allow_anonymous):
            raise InvalidInput(
                _(
                    "This server doesn't allow anonymous notes; send it with your name, or not "
                    "at all. Nothing was sent."
                )
            )
        recipient = await repo.get_member(session, guild_id, recipient_id)
        if recipient is not None and recipient.notes_off:
            raise InvalidInput(_(NOT_RECEIVING))
        # Under their ids and their pseudonyms: what one of them sent or received before
        # erasing their data still counts (see `erase_member`), and so does a block.
        senders = (sender_id, await tombstone(session, guild_id, sender_id, now=now))
        recipients = (recipient_id, await tombstone(session, guild_id, recipient_id, now=now))
        blocked_by = await buddy_repo.blockers(session, guild_id, senders, recipients)
        if set(recipients) & blocked_by:
            raise InvalidInput(_(NOT_RECEIVING))
        if set(senders) & blocked_by:
            raise InvalidInput(
                _(
                    "You asked never to be paired with them, so notes between you are off too. "
                    "Nothing was sent."
                )
            )
        verdict = may_send_note(
            await repo.notes_sent_since(session, guild_id, senders, now - timedelta(days=1)),
            await repo.last_note_to(session, guild_id, senders, recipients),
            now,
        )
        if not verdict.allowed:
            raise InvalidInput(verdict.reason or _("Not now."))
        row = await repo.add_note(
            session,
            ThinkingNote(
                guild_id=guild_id,
                sender_id=sender_id,
                recipient_id=recipient_id,
                note=note,
                anonymous=anonymous,
                status="queued",
                created_at=now,
            ),
        )
        await outbox.enqueue(
            session,
            key=f"circle:note:{row.id}",
            kind=KIND_NOTE,
            target_type="user",
            target_id=recipient_id,
            payload={"note_id": row.id},
            due_at=now,
            now=now,
            guild_id=guild_id,
        )
        return Queued(row.id, anonymous)


async def set_notes_off(db: Database, clock: Clock, guild_id: int, user_id: int, off: bool) -> None:
    async with db.session() as session:
        await repo.update_member(session, guild_id, user_id, now=clock.now(), notes_off=off)


async def report(db: Database, clock: Clock, note_id: int, reporter_id: int) -> bool:
    """The recipient reports a note: the moderators get it (sender named, even if it was
    anonymous to the recipient). Returns False if it isn't theirs or was reported already."""
    now = clock.now()
    async with db.session() as session:
        note = await repo.get_note(session, note_id, for_update=True)
        if note is None or note.recipient_id != reporter_id:
            return False
        if note.status == "reported":
            return False
        note.status, note.reported_at = "reported", now
        escalation = await escalation_repo.get_settings(session, note.guild_id)
        channel_id = escalation.alert_channel_id if escalation else None
        # The text is read (decrypted) when the report is sent, never copied into the outbox.
        await outbox.enqueue(
            session,
            key=f"circle:note-report:{note.id}",
            kind=KIND_REPORT,
            target_type="channel" if channel_id else "guild_owner",
            target_id=channel_id or note.guild_id,
            payload={"note_id": note.id},
            due_at=now,
            now=now,
            guild_id=note.guild_id,
        )
        return True


def who(user_id: int) -> str:
    """A member, or one who erased their data, shown by a short form of their pseudonym (so
    moderators can tell that two reports concern the same person, and nothing more)."""
    if user_id > 0:
        return f"<@{user_id}>"
    return _("a member who has since erased their data (pseudonym #{pseudonym})").format(
        pseudonym=f"{abs(user_id) % 1_000_000:06d}"
    )


def report_text(note: ThinkingNote) -> str:
    """The report to the moderators, in the current language (the server's)."""
    reported = _("🚩 A thinking-of-you note was reported by its recipient {recipient}.").format(
        recipient=who(note.recipient_id)
    )
    sent_at = f"<t:{int(note.created_at.timestamp())}:f>"
    if note.anonymous:
        sent = _("Sent by {sender} (anonymously) on {time}.").format(
            sender=who(note.sender_id), time=sent_at
        )
    else:
        sent = _("Sent by {sender} on {time}.").format(sender=who(note.sender_id), time=sent_at)
    if note.note:
        quoted = _("The note:") + "\n> " + note.note.replace("\n", "\n> ")
    else:
        quoted = _("The note: (no text, or cleared)")
    return f"{reported}\n{sent} {quoted}\n" + _(
        "When you have looked into it, press **Close report**."
    )


REPORT_OPEN, REPORT_CLOSED = "reported", "closed"


async def report_server(db: Database, note_id: int) -> int | None:
    """The server of a note, to check who may close its report (None: no such note)."""
    async with db.lookup() as session:
        note = await repo.get_note(session, note_id)
        return None if note is None else note.guild_id


async def close_report(
    db: Database, clock: Clock, note_id: int, *, guild_id: int, moderator_id: int
) -> ThinkingNote | None:
    """A moderator closes a report (the caller checked they moderate `guild_id`). A note
    kept only as evidence (its sender or recipient erased their data) loses its words now,
    and goes unless it is from the last week, where it still counts towards the limits
    (retention removes it when the week is over). None if there is no open report of that
    note in that server."""
    now = clock.now()
    async with db.session() as session:
        note = await repo.get_note(session, note_id, for_update=True)
        if note is None or note.guild_id != guild_id or note.status != REPORT_OPEN:
            return None
        note.status = REPORT_CLOSED
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=moderator_id,
            action="circles.report_closed",
            now=now,
            subject_type="thinking_note",
            subject_id=note.id,
        )
        if note.sender_id < 0 or note.recipient_id < 0:
            if note.created_at < now - NOTE_RECIPIENT_GAP:
                await session.delete(note)
            else:
                note.note = None
        return note


@dataclass(frozen=True)
class ErasedNotes:
    deleted: int
    kept: set[int]


async def erase_member(
    session: AsyncSession, guild_id: int, user_id: int, *, tomb: int, now: datetime
) -> ErasedNotes:
    """A member's notes, sent and received, when they erase their data (in the caller's unit
    of work). Where one member's privacy meets another's safety:

    - a note under report stays, with its words, the erased member under their pseudonym,
      until the moderators close the report (or retention ends it): a sender cannot erase
      the evidence of a note that was reported;
    - a note from the last week stays under the pseudonym without its words, so the limits
      (a few a day, one a week to one member) still hold if they come back; one not yet
      delivered is withdrawn, never delivered;
    - every other note goes."""
    deleted, kept = 0, set()
    window = now - NOTE_RECIPIENT_GAP
    for note in await repo.notes_of(session, guild_id, user_id):
        reported = note.status == REPORT_OPEN
        if not reported and note.created_at < window:
            await session.delete(note)
            deleted += 1
            continue
        if note.sender_id == user_id:
            note.sender_id = tomb
        if note.recipient_id == user_id:
            note.recipient_id = tomb
        if not reported:
            note.note = None
            if note.status == "queued":
                note.status = "withdrawn"
        kept.add(note.id)
    return ErasedNotes(deleted, kept)
