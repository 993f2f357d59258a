"""The outbox dispatcher: one loop that sends everything the bot says on its own initiative.

It claims due rows with a lease (so a second process, or this one after a crash, never
sends a row another is sending), asks the row's kind to render it from the current state,
hands it to the `Sender`, and records the outcome. The sender paces its requests below
Discord's global limit of 50 a second (`bot.jobs.pacing`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.db.engine import Database, DatabaseClosing
from bot.db.models import OutboxMessage
from bot.db.repositories import outbox
from bot.jobs.delivery import (
    Done,
    KindHandler,
    NotYet,
    PlainMessage,
    QueuedMessage,
    Retry,
    Sender,
    Sent,
    Skip,
    Undeliverable,
)

log = logging.getLogger(__name__)

PLAIN = PlainMessage()
MAX_BACKOFF = timedelta(minutes=15)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, … capped at 15 minutes."""
    return min(timedelta(seconds=5 * 2 ** max(0, attempts - 1)), MAX_BACKOFF)


def _queued(row: OutboxMessage) -> QueuedMessage:
    return QueuedMessage(
        id=row.id,
        key=row.idempotency_key,
        kind=row.kind,
        guild_id=row.guild_id,
        target_type=row.target_type,
        target_id=row.target_id,
        payload=dict(row.payload),
        attempts=row.attempts,
    )


class OutboxDispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: Sender,
        handlers: Mapping[str, KindHandler],
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 20,
        poll_seconds: float = 5.0,
        per_second: float | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sender = sender
        self.handlers = dict(handlers)
        self.owner = owner or f"kinfolk-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self.batch = batch
        self.poll_seconds = poll_seconds
        # Sends per second; None leaves pacing to the sender (which paces each request).
        self._interval = 0.0 if per_second is None else 1.0 / per_second
        self._next_send = 0.0
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
        async with self.db.session() as session:
            rows = await outbox.claim_due(
                session, now=self.clock.now(), owner=self.owner, lease=self.lease, limit=self.batch
            )
        for position, row in enumerate(rows):
            if self._stopping:
                await self._release([_queued(r) for r in rows[position:]])
                break
            message = _queued(row)
            try:
                await self._process(message)
            except DatabaseClosing:
                raise
            except Exception:
                # One bad message must not hold up the rest of the batch.
                log.exception("outbox %s (%s): failed while processing", message.id, message.kind)
                handler = self.handlers.get(message.kind, PLAIN)
                await self._retry(message, handler, "internal error")
        return len(rows)

    async def _process(self, message: QueuedMessage) -> None:
        handler = self.handlers.get(message.kind, PLAIN)
        try:
            prepared = await handler.prepare(message)
        except DatabaseClosing:
            raise
        except Exception:
            log.exception("outbox %s (%s): could not be prepared", message.id, message.kind)
            await self._retry(message, handler, "prepare failed")
            return
        if isinstance(prepared, Skip):
            await self._finish_skipped(message, prepared.reason)
            return
        if isinstance(prepared, NotYet):
            await self._fail(message, prepared.reason, self.clock.now() + prepared.after)
            return
        if isinstance(prepared, Done):
            log.info("outbox %s (%s): %s", message.id, message.kind, prepared.reason)
            async with self.db.session() as session:
                await outbox.mark_sent(session, message.id, owner=self.owner, now=self.clock.now())
            return
        if prepared.edit_message_id is None:
            prepared = dataclasses.replace(prepared, nonce=f"kinfolk-{message.id}")
        await self._pace()
        # A fresh lease for this one message: the batch's lease may be nearly spent, and a
        # send must never outlive its lease (another process would then send it too).
        async with self.db.session() as session:
            kept = await outbox.renew_lease(
                session, message.id, owner=self.owner, until=self.clock.now() + self.lease
            )
        if not kept:
            log.warning(
                "outbox %s (%s): lease lost before sending; skipped", message.id, message.kind
            )
            return
        try:
            async with asyncio.timeout(self.lease.total_seconds() / 2):
                outcome = await self.sender.deliver(prepared)
        except Exception as error:
            log.warning("outbox %s (%s): send failed: %r", message.id, message.kind, error)
            outcome = Retry(type(error).__name__)
        if isinstance(outcome, Sent):
            # Follow-ups first (e.g. remembering where an alert was posted): if we crash
            # before the row is marked, the retry sees the alert exists and skips it.
            try:
                await handler.on_sent(message, outcome)
            except DatabaseClosing:
                raise
            except Exception:
                log.exception(
                    "outbox %s (%s): follow-up after sending failed", message.id, message.kind
                )
            async with self.db.session() as session:
                await outbox.mark_sent(session, message.id, owner=self.owner, now=self.clock.now())
        elif isinstance(outcome, Undeliverable):
            log.info("outbox %s (%s): undeliverable: %s", message.id, message.kind, outcome.reason)
            after = await handler.on_undeliverable(message, outcome)
            retry_at = None if after is None else self.clock.now() + after
            await self._fail(message, f"{outcome.code}: {outcome.reason}", retry_at)
        else:
            await self._retry(message, handler, outcome.reason)

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

    async def _pace(self) -> None:
        now = time.monotonic()
        if now < self._next_send:
            await asyncio.sleep(self._next_send - now)
        self._next_send = max(now, self._next_send) + self._interval
