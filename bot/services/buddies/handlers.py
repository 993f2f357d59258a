"""The outbox kinds of buddy pairing: the intro thread, the mid-round question, the
scheduled round start."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import Clock
from bot.db.crypto import EncryptionKeyMissing, decrypt
from bot.db.engine import Database
from bot.db.repositories import buddies as repo
from bot.db.repositories import outbox
from bot.i18n import _
from bot.jobs.delivery import (
    Delivery,
    KindHandler,
    NoFollowUp,
    NotYet,
    Prepared,
    QueuedMessage,
    Sent,
    Skip,
    Undeliverable,
)
from bot.services.buddies.membership import KIND_THREAD
from bot.services.buddies.rounds import KIND_CHECKUP, KIND_INTRO, KIND_ROUND
from bot.services.buddies.schedule import RoundHandler
from bot.services.buddies.texts import CHECKUP, intro
from bot.services.circles import offers

CHECKUP_VIEW = "buddy_checkup"


class IntroHandler:
    """Opens the group's private thread (only its members invited) with a warm intro, in
    the server's language (the dispatcher's, around `prepare`)."""

    max_attempts: int | None = 8

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        group_id = int(message.payload["group_id"])
        async with self.db.session() as session:
            group = await repo.get_group(session, group_id)
            if group is None or group.ended_at is not None:
                return Skip("the pairing ended before its intro")
            members = [
                m.user_id for m in await repo.group_members(session, group_id) if m.left_at is None
            ]
            ends_at = await repo.round_ends_at(session, group.round_id)
            frequencies = await repo.frequencies(session, group.guild_id, members)
            shared = await offers.shared_offers(session, group.guild_id, members)
            number = await repo.round_number(session, group.round_id)
        assert ends_at is not None
        content = intro(members, ends_at, frequencies, seed=group_id, offers=shared)
        if group.thread_id is not None:
            # Opened by an earlier attempt that failed after: post in it, open no other.
            return Delivery(
                target_type="channel",
                target_id=group.thread_id,
                content=content,
                ping_users=tuple(members),
                thread_members=tuple(members),
            )

        async def opened(thread_id: int) -> None:
            await self._record_thread(group_id, thread_id)

        return Delivery(
            target_type="channel",
            target_id=message.target_id,
            content=content,
            ping_users=tuple(members),
            thread_name=_("Buddies · round {number}").format(number=number),
            thread_members=tuple(members),
            thread_opened=opened,
        )

    async def _record_thread(self, group_id: int, thread_id: int) -> None:
        async with self.db.session() as session:
            group = await repo.get_group(session, group_id, for_update=True)
            if group is not None and group.thread_id is None:
                group.thread_id = thread_id

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        """Nothing left to record: the thread was recorded when it was opened."""

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        return timedelta(minutes=10)  # the channel may be fixed; the pairing stands meanwhile


class CheckupHandler(NoFollowUp):
    """Asks each buddy privately, halfway through: did you two connect?"""

    max_attempts: int | None = 5

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        group_id = int(message.payload["group_id"])
        async with self.db.session() as session:
            group = await repo.get_group(session, group_id)
            members = await repo.group_members(session, group_id)
        mine = next((m for m in members if m.user_id == message.target_id), None)
        if group is None or group.ended_at is not None or mine is None or mine.left_at:
            return Skip("the pairing ended before the question")
        if mine.answer is not None:
            return Skip("already answered")
        return Delivery(
            target_type="user",
            target_id=message.target_id,
            content=_(CHECKUP),
            view=CHECKUP_VIEW,
            view_args={"group_id": group_id},
        )


class ThreadHandler(NoFollowUp):
    """A group's thread follows its members: closed when a pair ends, one fewer member
    when someone leaves a trio."""

    max_attempts: int | None = 8

    def __init__(self, db: Database) -> None:
        self.db = db

    async def prepare(self, message: QueuedMessage) -> Prepared:
        group_id = int(message.payload["group_id"])
        async with self.db.lookup() as session:
            group = await repo.get_group(session, group_id)
            intro = await outbox.get_by_key(session, f"buddy:intro:{group_id}")
        if group is None:
            return Skip("the group is gone")
        if intro is not None and intro.status in ("pending", "sending"):
            # Its thread may be opening right now, with the old members: after the intro.
            return NotYet("the group's intro is still on its way", timedelta(seconds=30))
        if group.thread_id is None:
            return Skip("no thread was opened for the group")
        member = message.payload.get("remove")  # queued before ids were sealed
        if sealed := message.payload.get("remove_sealed"):
            try:
                member = int(decrypt(sealed))
            except EncryptionKeyMissing:  # its key was retired meanwhile
                return Skip("the member to take out can no longer be read")
        return Delivery(
            target_type="channel",
            target_id=group.thread_id,
            remove_from_thread=int(member) if member is not None else None,
            close_thread=bool(message.payload.get("close")),
        )


def handlers(db: Database, clock: Clock) -> dict[str, KindHandler]:
    return {
        KIND_THREAD: ThreadHandler(db),
        KIND_INTRO: IntroHandler(db, clock),
        KIND_CHECKUP: CheckupHandler(db, clock),
        KIND_ROUND: RoundHandler(db, clock),
    }
