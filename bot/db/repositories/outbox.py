"""The outbox table: enqueue in the caller's transaction, claim with a lease, mark the end.

Claiming selects due rows `FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent dispatchers
each get different rows; SQLite ignores that clause but every transaction there starts with
`BEGIN IMMEDIATE`, so claims are serialised by the write lock. A row stuck in `sending`
whose lease has run out (its dispatcher died) is claimable again.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OutboxMessage
from bot.db.typed import dialect_of, rowcount, table_of
from bot.db.upsert import insert_skipping_conflicts

PENDING, SENDING, SENT, FAILED, CANCELLED = "pending", "sending", "sent", "failed", "cancelled"
# A channel or thread id; a user id (a DM); a server id (a DM to that server's owner).
TARGET_TYPES = ("channel", "user", "guild_owner")

# Claimed lowest first. A member waiting for a person comes before everything else; bulk
# nudges and scheduled jobs wait behind everyday messages. Due time orders within a level.
URGENT, NORMAL, BULK = 0, 1, 2
URGENT_KINDS = frozenset({"circle_note_report"})
BULK_KINDS = frozenset(
    {
        "checkin_reminder",
        "checkin_prompt",
        "reachout_dm",
        "reachout_buddy",
        "reachout_sweep",
        "reachout_sweep_all",
        "reachout_digest",
        "circle_milestone",
        "privacy_retention",
        "privacy_leaver",
    }
)


def priority_of(kind: str) -> int:
    """Escalation messages (kinds "talk.*") and reports are urgent; see BULK_KINDS."""
    if kind.startswith("talk.") or kind in URGENT_KINDS:
        return URGENT
    return BULK if kind in BULK_KINDS else NORMAL


@dataclass(frozen=True)
class Queued:
    """A message to queue: the fields `enqueue` takes (and `enqueue_many`, many at once)."""

    key: str
    kind: str
    target_type: str
    target_id: int
    payload: dict[str, Any]
    due_at: datetime
    guild_id: int | None = None
    member_id: int | None = None


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    target_type: str,
    target_id: int,
    payload: dict[str, Any],
    due_at: datetime,
    now: datetime,
    guild_id: int | None = None,
    member_id: int | None = None,
) -> int | None:
    """Queue a message unless one with the same key exists. Returns the new id, or None.
    `member_id`: the member the message is about when that is not its target (see the
    model); erasure finds the message by it."""
    message = Queued(key, kind, target_type, target_id, payload, due_at, guild_id, member_id)
    return await enqueue_message(session, message, now=now)


async def enqueue_message(session: AsyncSession, message: Queued, *, now: datetime) -> int | None:
    """`enqueue` of a message already described as a `Queued`."""
    statement = _enqueue(dialect_of(session))
    return (await session.execute(statement, _row(message, now))).scalar_one_or_none()


async def enqueue_many(session: AsyncSession, messages: Sequence[Queued], *, now: datetime) -> None:
    """Queue many messages in one statement (the sweep's), each unless its key exists."""
    if messages:
        rows = [_row(m, now) for m in messages]
        await session.execute(_enqueue_many(dialect_of(session)), rows)


def _row(m: Queued, now: datetime) -> dict[str, Any]:
    """The outbox row for message `m`, queued at `now`."""
    if m.target_type not in TARGET_TYPES:
        raise ValueError(f"target_type must be one of {TARGET_TYPES}, not {m.target_type!r}")
    return {
        "idempotency_key": m.key,
        "guild_id": m.guild_id,
        "kind": m.kind,
        "target_type": m.target_type,
        "target_id": m.target_id,
        "member_id": m.member_id,
        "payload": m.payload,
        "status": PENDING,
        "priority": priority_of(m.kind),
        "due_at": m.due_at,
        "attempts": 0,
        "created_at": now,
    }


_ENQUEUED_COLUMNS = (
    "idempotency_key",
    "guild_id",
    "kind",
    "target_type",
    "target_id",
    "member_id",
    "payload",
    "status",
    "priority",
    "due_at",
    "attempts",
    "created_at",
)


@functools.cache
def _enqueue(dialect: str) -> Any:
    """The enqueue statement, built once per dialect on the table (not the ORM class, whose
    insert goes through the ORM's bulk path): the hot path of every message queued (a /talk
    queues four; building each anew cost about 1 ms of CPU under the profiler, issue 18)."""
    table = table_of(OutboxMessage)
    return _enqueue_many(dialect).returning(table.c.id)


@functools.cache
def _enqueue_many(dialect: str) -> Any:
    """`_enqueue` without RETURNING, for many rows at once (one executemany)."""
    table = table_of(OutboxMessage)
    return insert_skipping_conflicts(
        dialect, table, [table.c.idempotency_key], columns=_ENQUEUED_COLUMNS
    )


async def claim_due(
    session: AsyncSession, *, now: datetime, owner: str, lease: timedelta, limit: int
) -> list[OutboxMessage]:
    """Lease up to `limit` due messages to `owner`: messages whose dispatcher died (lease run
    out) first, then pending ones by priority and due time. Each select walks the
    (status, priority, due_at) index."""
    expired = (
        await session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == SENDING, OutboxMessage.leased_until < now)
            .order_by(OutboxMessage.priority, OutboxMessage.due_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    pending = (
        (
            await session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.status == PENDING, OutboxMessage.due_at <= now)
                .order_by(OutboxMessage.priority, OutboxMessage.due_at, OutboxMessage.id)
                .limit(limit - len(expired))
                .with_for_update(skip_locked=True)
            )
        ).all()
        if len(expired) < limit
        else []
    )
    ids = [*expired, *pending]
    if not ids:
        return []
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(
            status=SENDING,
            lease_owner=owner,
            leased_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    rows = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.priority, OutboxMessage.due_at, OutboxMessage.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def renew_lease(
    session: AsyncSession, message_id: int, *, owner: str, until: datetime
) -> bool:
    """Extend `owner`'s lease on a message it is about to send; False if it lost the lease."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == SENDING,
            OutboxMessage.lease_owner == owner,
        )
        .values(leased_until=until)
    )
    return rowcount(result) == 1


@functools.cache
def _mark_sent() -> Any:
    table = table_of(OutboxMessage)
    return (
        update(table)
        .where(
            table.c.id == bindparam("message_id"),
            table.c.status == SENDING,
            table.c.lease_owner == bindparam("owner"),
        )
        .values(
            status=SENT,
            sent_at=bindparam("now"),
            last_error=None,
            leased_until=None,
            lease_owner=None,
        )
    )


async def mark_sent(session: AsyncSession, message_id: int, *, owner: str, now: datetime) -> bool:
    """Record a send. False if the lease was lost to another dispatcher meanwhile. (One
    statement built once: every message the bot sends ends here.)"""
    result = await session.execute(
        _mark_sent(), {"message_id": message_id, "owner": owner, "now": now}
    )
    return rowcount(result) == 1


async def mark_failed(
    session: AsyncSession,
    message_id: int,
    *,
    owner: str,
    reason: str,
    retry_at: datetime | None = None,
) -> bool:
    """Record a failure: retried at `retry_at`, or given up for good when it is None."""
    if retry_at is None:
        return await _finish(session, message_id, owner, status=FAILED, last_error=reason)
    return await _finish(
        session, message_id, owner, status=PENDING, due_at=retry_at, last_error=reason
    )


async def mark_skipped(session: AsyncSession, message_id: int, *, owner: str, reason: str) -> bool:
    """Record that a claimed message no longer needed sending (its moment had passed)."""
    return await _finish(session, message_id, owner, status=CANCELLED, last_error=reason)


async def cancel(session: AsyncSession, key: str) -> bool:
    """Cancel a message that has not been claimed yet (e.g. a re-ping made moot by a claim)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.idempotency_key == key, OutboxMessage.status == PENDING)
        .values(status=CANCELLED)
    )
    return rowcount(result) == 1


async def delete_by_key_prefix(session: AsyncSession, prefix: str) -> int:
    """Delete every message whose key starts with `prefix` (what an erasure takes along)."""
    if "%" in prefix or "_" in prefix:
        raise ValueError("a key prefix holds no LIKE wildcards")
    result = await session.execute(
        delete(OutboxMessage).where(OutboxMessage.idempotency_key.like(prefix + "%"))
    )
    return rowcount(result)


async def get_by_key(session: AsyncSession, key: str) -> OutboxMessage | None:
    return await session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))


async def _finish(session: AsyncSession, message_id: int, owner: str, **values: Any) -> bool:
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == SENDING,
            OutboxMessage.lease_owner == owner,
        )
        .values(leased_until=None, lease_owner=None, **values)
    )
    return rowcount(result) == 1
