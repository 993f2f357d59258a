"""The outbox dispatcher: one loop that sends everything the bot says on its own initiative.

It claims due rows with a lease (so a second process, or this one after a crash, never
sends a row another is sending), asks the row's kind to render it from the current state,
hands it to the `Sender`, and records the outcome. The sender paces its requests below
Discord's global limit of 50 a second (`bot.jobs.pacing`).

Rows are claimed most urgent first (escalation alerts before bulk reminders: see
`outbox.priority_of`), and a claimed batch is worked on by up to `concurrency` messages at
once, so the database work of one message overlaps the round trip of another. Messages for
the same target (a channel, a member) stay in order: they are sent one after the other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from bot import i18n
from bot.clock import Clock
from bot.db.engine import Database, DatabaseClosing
from bot.db.repositories import outbox
from bot.jobs.defaults import OUTBOX_LEASE_SECONDS
from bot.jobs.delivery import (
    Delivery,
    Done,
    KindHandler,
    NotYet,
    Outcome,
    PlainMessage,
    Prepared,
    QueuedMessage,
    RecordsSent,
    Retry,
    Sender,
    Sent,
    Skip,
    Undeliverable,
)

log = logging.getLogger(__name__)

PLAIN = PlainMessage()
# The language a message's reader gets (`bot.services.languages.LanguageResolver`).
LanguageOf = Callable[[QueuedMessage], Awaitable[str]]
MAX_BACKOFF = timedelta(minutes=15)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, … capped at 15 minutes."""
    return min(timedelta(seconds=5 * 2 ** max(0, attempts - 1)), MAX_BACKOFF)


class OutboxDispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: Sender,
        handlers: Mapping[str, KindHandler],
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(seconds=OUTBOX_LEASE_SECONDS),
        batch: int = 20,
        poll_seconds: float = 5.0,
        concurrency: int = 1,
        language_of: LanguageOf | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.db = db
        self.clock = clock
        self.sender = sender
        self.handlers = dict(handlers)
        self.owner = owner or f"kinfolk-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.language_of = language_of
        # When the lease on the batch in hand runs out.
        self._batch_lease_ends: datetime | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Look for due messages now (called after something was queued)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the message in hand, hand back the rest of the batch, and leave the loop."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        while not self._stopping:
            try:
                handled = await self.run_once()
            except DatabaseClosing:
                return
            except Exception:
                log.exception("outbox pass failed; retrying shortly")
                handled = 0
            if handled:
                continue
            self._wake.clear()
            try:
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """Claim and process one batch of due messages; returns how many were handled."""
        claimed_at = self.clock.now()
        async with self.db.session() as session:
            rows = await outbox.claim_due(
                session, now=claimed_at, owner=self.owner, lease=self.lease, limit=self.batch
            )
        self._batch_lease_ends = claimed_at + self.lease
        # One lane per target, in claim order (most urgent first); lanes run side by side.
        lanes: dict[tuple[str, int], list[QueuedMessage]] = {}
        for row in rows:
            lanes.setdefault((row.target_type, row.target_id), []).append(
                QueuedMessage.from_row(row)
            )
        waiting = list(lanes.values())
        workers = [
            asyncio.create_task(self._work(waiting))
            for _ in range(min(self.concurrency, len(waiting)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
        return len(rows)

    async def _work(self, waiting: list[list[QueuedMessage]]) -> None:
        """Take lanes until none is left; hand everything back when stopping."""
        while waiting:
            lane = waiting.pop(0)
            for position, message in enumerate(lane):
                if self._stopping:
                    await self._release(lane[position:])
                    break
                try:
                    await self._process(message)
                except DatabaseClosing:
                    raise
                except Exception:
                    # One bad message must not hold up the rest of the batch.
                    log.exception(
                        "outbox %s (%s): failed while processing", message.id, message.kind
                    )
                    handler = self.handlers.get(message.kind, PLAIN)
                    await self._retry(message, handler, "internal error")

    async def _process(self, message: QueuedMessage) -> None:
        """One message: prepared by its kind's handler, sent unless that made it moot, and
        its outcome recorded."""
        handler = self.handlers.get(message.kind, PLAIN)
        language = i18n.ENGLISH
        if self.language_of is not None:
            language = await self.language_of(message)
        # Written for its reader: the handler's words and the sender's buttons alike.
        with i18n.speaking(language):
            await self._prepared_and_sent(message, handler)

    async def _prepared_and_sent(self, message: QueuedMessage, handler: KindHandler) -> None:
        prepared = await self._prepare(message, handler)
        delivery = None if prepared is None else await self._to_send(message, prepared)
        if delivery is None:
            return
        outcome = await self._send(message, delivery)
        if outcome is not None:
            await self._record(message, handler, outcome)

    async def _prepare(self, message: QueuedMessage, handler: KindHandler) -> Prepared | None:
        """What the handler makes of the message now; None if it failed (retried later)."""
        try:
            return await handler.prepare(message)
        except DatabaseClosing:
            raise
        except Exception:
            log.exception("outbox %s (%s): could not be prepared", message.id, message.kind)
            await self._retry(message, handler, "prepare failed")
            return None

    async def _to_send(self, message: QueuedMessage, prepared: Prepared) -> Delivery | None:
        """The delivery to send; or None, having finished a message the handler says needs
        no sending (now, or at all)."""
        if isinstance(prepared, Delivery):
            return prepared
        if isinstance(prepared, Skip):
            await self._finish_skipped(message, prepared.reason)
        elif isinstance(prepared, NotYet):
            await self._fail(message, prepared.reason, self.clock.now() + prepared.after)
        elif isinstance(prepared, Done):
            log.info("outbox %s (%s): %s", message.id, message.kind, prepared.reason)
            async with self.db.session() as session:
                await outbox.mark_sent(session, message.id, owner=self.owner, now=self.clock.now())
        return None

    async def _send(self, message: QueuedMessage, delivery: Delivery) -> Outcome | None:
        """Deliver it, with a nonce for a new message (Discord keeps one message per nonce);
        None if the lease was lost first (another dispatcher has the message)."""
        if delivery.edit_message_id is None:
            delivery = dataclasses.replace(delivery, nonce=f"kinfolk-{message.id}")
        if not await self._hold_lease(message):
            log.warning(
                "outbox %s (%s): lease lost before sending; skipped", message.id, message.kind
            )
            return None
        try:
            async with asyncio.timeout(self.lease.total_seconds() / 2):
                return await self.sender.deliver(delivery)
        except Exception as error:
            log.warning("outbox %s (%s): send failed: %r", message.id, message.kind, error)
            return Retry(type(error).__name__)

    async def _record(self, message: QueuedMessage, handler: KindHandler, outcome: Outcome) -> None:
        if isinstance(outcome, Sent):
            await self._sent(message, handler, outcome)
        elif isinstance(outcome, Undeliverable):
            log.info("outbox %s (%s): undeliverable: %s", message.id, message.kind, outcome.reason)
            after = await handler.on_undeliverable(message, outcome)
            retry_at = None if after is None else self.clock.now() + after
            await self._fail(message, f"{outcome.code}: {outcome.reason}", retry_at)
        else:
            await self._retry(message, handler, outcome.reason)

    async def _sent(self, message: QueuedMessage, handler: KindHandler, sent: Sent) -> None:
        """Record the follow-up and mark the row sent. A handler with `record_sent` has its
        follow-up written in the same unit of work as the mark (one commit, not two: every DM
        of a reach-out wave and every alert ends here). If that unit fails, the follow-up is
        tried once more on its own before the mark: where an alert was posted must not be lost
        with a mark that failed (the ladder's steps wait for it)."""
        if isinstance(handler, RecordsSent):
            try:
                async with self.db.session() as session:
                    await handler.record_sent(session, message, sent)
                    await outbox.mark_sent(
                        session, message.id, owner=self.owner, now=self.clock.now()
                    )
                return
            except DatabaseClosing:
                raise
            except Exception:
                log.warning(
                    "outbox %s (%s): follow-up and mark failed together; trying them apart",
                    message.id,
                    message.kind,
                    exc_info=True,
                )
        try:
            # Follow-ups first (e.g. remembering where an alert was posted): if we crash
            # before the row is marked, the retry sees the alert exists and skips it.
            await handler.on_sent(message, sent)
        except DatabaseClosing:
            raise
        except Exception:
            # Marked sent all the same, below: the message is out and must not go twice.
            log.exception(
                "outbox %s (%s): follow-up after sending failed", message.id, message.kind
            )
        async with self.db.session() as session:
            await outbox.mark_sent(session, message.id, owner=self.owner, now=self.clock.now())

    async def _hold_lease(self, message: QueuedMessage) -> bool:
        """Make sure the lease outlasts the send. The send is cut off after half a lease, so
        a batch lease with more than that left is enough; otherwise this one message gets a
        fresh lease (False if another dispatcher took it meanwhile)."""
        ends = self._batch_lease_ends
        if ends is not None and ends - self.clock.now() > self.lease * 0.6:
            return True
        async with self.db.session() as session:
            return await outbox.renew_lease(
                session, message.id, owner=self.owner, until=self.clock.now() + self.lease
            )

    async def _retry(self, message: QueuedMessage, handler: KindHandler, reason: str) -> None:
        limit = handler.max_attempts
        if limit is not None and message.attempts >= limit:
            log.warning(
                "outbox %s (%s): giving up after %d attempts", message.id, message.kind, limit
            )
            await self._fail(message, f"gave up: {reason}", None)
        else:
            await self._fail(message, reason, self.clock.now() + backoff(message.attempts))

    async def _fail(self, message: QueuedMessage, reason: str, retry_at: datetime | None) -> None:
        async with self.db.session() as session:
            await outbox.mark_failed(
                session, message.id, owner=self.owner, reason=reason, retry_at=retry_at
            )

    async def _release(self, messages: list[QueuedMessage]) -> None:
        """Give claimed messages back at once (shutting down), rather than after the lease."""
        for message in messages:
            await self._fail(message, "released at shutdown", self.clock.now())

    async def _finish_skipped(self, message: QueuedMessage, reason: str) -> None:
        async with self.db.session() as session:
            await outbox.mark_skipped(session, message.id, owner=self.owner, reason=reason)
