"""Thinking-of-you notes: "<sender> is thinking of you", by DM, through the outbox.

Limits keep them welcome: a few a day from one sender, one a week to one recipient.
Recipients can turn them off, and report one to the moderators in one tap. A note that cannot
be delivered (closed DMs) is not shown to anyone; the sender is told kindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import ThinkingNote
from bot.db.repositories import circles as repo
from bot.db.repositories import escalation as escalation_repo
from bot.db.repositories import outbox
from bot.domain.checkins import InvalidInput
from bot.domain.circles import NOTE_MAX_CHARS, may_send_note

KIND_NOTE = "circle_note"
KIND_REPORT = "circle_note_report"
NOTE_VIEW = "circle_note"


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
) -> Queued:
    """Check the limits and choices, then save the note and queue its DM together."""
    if recipient_id == sender_id:
        raise InvalidInput("You can't send one to yourself, but we're thinking of you too. 💛")
    if recipient_is_bot:
        raise InvalidInput("Bots don't get notes; pick a person to think of.")
    note = " ".join((text or "").split()) or None
    if note is not None and len(note) > NOTE_MAX_CHARS:
        raise InvalidInput(
            f"Please keep the note under {NOTE_MAX_CHARS} characters. Nothing was sent."
        )
    now = clock.now()
    async with db.session() as session:
        settings = await repo.get_settings(session, guild_id)
        if anonymous and not (settings is not None and settings.allow_anonymous):
            raise InvalidInput(
                "This server doesn't allow anonymous notes; send it with your name, or not at "
                "all. Nothing was sent."
            )
        recipient = await repo.get_member(session, guild_id, recipient_id)
        if recipient is not None and recipient.notes_off:
            raise InvalidInput(
                "They've chosen not to receive these notes right now. Nothing was sent."
            )
        verdict = may_send_note(
            await repo.notes_sent_since(session, guild_id, sender_id, now - timedelta(days=1)),
            await repo.last_note_to(session, guild_id, sender_id, recipient_id),
            now,
        )
        if not verdict.allowed:
            raise InvalidInput(verdict.reason or "Not now.")
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


def report_text(note: ThinkingNote) -> str:
    quoted = ("\n> " + note.note.replace("\n", "\n> ")) if note.note else " (no text, or cleared)"
    return (
        f"🚩 A thinking-of-you note was reported by its recipient <@{note.recipient_id}>.\n"
        f"Sent by <@{note.sender_id}>"
        + (" (anonymously)" if note.anonymous else "")
        + f" on <t:{int(note.created_at.timestamp())}:f>. The note:{quoted}"
    )
