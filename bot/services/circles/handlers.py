"""The outbox kinds of support circles: a thinking-of-you DM and a milestone post."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import buddies as buddy_repo
from bot.db.repositories import circles as repo
from bot.db.repositories import outbox
from bot.i18n import N_, _
from bot.jobs.delivery import (
    PROBLEM_DMS_CLOSED,
    SERVER_PLACEHOLDER,
    Delivery,
    KindHandler,
    NoFollowUp,
    Prepared,
    QueuedMessage,
    Sent,
    Skip,
    Undeliverable,
)
from bot.services.circles.milestones import KIND_MILESTONE, MilestoneHandler
from bot.services.circles.notes import (
    KIND_NOTE,
    KIND_REPORT,
    NOTE_VIEW,
    REPORT_VIEW,
    report_text,
)

KIND_UNDELIVERED = "circle_note_undelivered"
UNDELIVERED = N_(
    "Your thinking-of-you note to <@{recipient}> in **{server}** couldn't be delivered: they "
    "don't accept DMs right now. Nobody saw it, and it's nothing to do with you. Maybe say "
    "hello in the server instead?"
)


def note_text(sender_id: int, anonymous: bool, note: str | None) -> str:
    """The note's DM in the current language (the recipient's); `{server}` is filled in with
    the server's name when it is sent."""
    if anonymous:
        text = _("💌 Someone in **{server}** is thinking of you.")
    else:
        text = _("💌 {sender} from **{server}** is thinking of you.").format(
            sender=f"<@{sender_id}>", server=SERVER_PLACEHOLDER
        )
    if note:
        text += "\n> " + note.replace("\n", "\n> ")
    return text


class NoteHandler:
    max_attempts: int | None = 8

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        async with self.db.session() as session:
            note = await repo.get_note(session, int(message.payload["note_id"]))
            if note is None:
                return Skip("the note was deleted")
            if note.status != "queued":
                return Skip(f"the note is {note.status}")
            if note.sender_id < 0 or note.recipient_id < 0:
                return Skip("the sender or the recipient erased their data")
            pair = ([note.sender_id], [note.recipient_id])
            if await buddy_repo.blockers(session, note.guild_id, *pair):
                # Blocked after it was asked for: withdrawn, as at an erasure (nobody is told).
                note.status = "withdrawn"
                return Skip("a buddy block between the two since the note was asked for")
            recipient = await repo.get_member(session, note.guild_id, note.recipient_id)
        if recipient is not None and recipient.notes_off:
            return Skip("the recipient turned notes off")
        return Delivery(
            target_type="user",
            target_id=note.recipient_id,
            content=note_text(note.sender_id, note.anonymous, note.note),
            view=NOTE_VIEW,
            view_args={"note_id": note.id, "guild_id": note.guild_id},
            server_name_of=note.guild_id,
        )

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        async with self.db.session() as session:
            note = await repo.get_note(session, int(message.payload["note_id"]), for_update=True)
            if note is not None and note.status == "queued":
                note.status = "sent"

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        now = self.clock.now()
        async with self.db.session() as session:
            note = await repo.get_note(session, int(message.payload["note_id"]), for_update=True)
            if note is None:
                return None
            note.status = "undelivered"
            if problem.code == PROBLEM_DMS_CLOSED:
                await outbox.enqueue(
                    session,
                    key=f"circle:note-undelivered:{note.id}",
                    kind=KIND_UNDELIVERED,
                    target_type="user",
                    target_id=note.sender_id,
                    payload={"recipient": note.recipient_id},
                    due_at=now,
                    now=now,
                    guild_id=note.guild_id,
                    member_id=note.recipient_id,
                )
        return None


class UndeliveredHandler(NoFollowUp):
    """Tells the sender kindly that their note could not be delivered."""

    max_attempts: int | None = 5

    async def prepare(self, message: QueuedMessage) -> Prepared:
        content = _(UNDELIVERED).format(
            recipient=int(message.payload["recipient"]), server=SERVER_PLACEHOLDER
        )
        return Delivery(
            target_type="user",
            target_id=message.target_id,
            content=content,
            server_name_of=message.guild_id,
        )


class ReportHandler(NoFollowUp):
    """A reported note, to the moderators: its text read from the encrypted note now."""

    max_attempts: int | None = None  # a report must reach someone

    def __init__(self, db: Database) -> None:
        self.db = db

    async def prepare(self, message: QueuedMessage) -> Prepared:
        async with self.db.session() as session:
            note = await repo.get_note(session, int(message.payload["note_id"]))
        if note is None:
            return Skip("the note was deleted")
        return Delivery(
            target_type=message.target_type,
            target_id=message.target_id,
            content=report_text(note),
            view=REPORT_VIEW,
            view_args={"note_id": note.id},
        )


def handlers(db: Database, clock: Clock) -> dict[str, KindHandler]:
    return {
        KIND_NOTE: NoteHandler(db, clock),
        KIND_REPORT: ReportHandler(db),
        KIND_UNDELIVERED: UndeliveredHandler(),
        KIND_MILESTONE: MilestoneHandler(db, clock),
    }
