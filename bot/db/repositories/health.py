"""The figures an operator watches, read in one unit of work (see bot/services/health.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OutboxMessage, SupportRequest
from bot.db.repositories.outbox import FAILED, PENDING, SENDING
from bot.domain.escalation import Status


@dataclass(frozen=True)
class Health:
    # Pending messages already due, by priority (0 urgent, 1 normal, 2 bulk).
    outbox_due: dict[int, int]
    outbox_sending: int
    outbox_failed: int
    # Seconds the longest-waiting due message has waited (0 when none is due).
    outbox_oldest_due_seconds: float
    # "I need to talk" requests nobody has claimed yet, and how long the oldest has waited.
    escalations_waiting: int
    escalation_oldest_wait_seconds: float


async def snapshot(session: AsyncSession, now: datetime) -> Health:
    due_rows = await session.execute(
        select(OutboxMessage.priority, func.count(), func.min(OutboxMessage.due_at))
        .where(OutboxMessage.status == PENDING, OutboxMessage.due_at <= now)
        .group_by(OutboxMessage.priority)
    )
    due: dict[int, int] = {}
    oldest = None
    for priority, count, first in due_rows.all():
        due[int(priority)] = int(count)
        oldest = first if oldest is None or first < oldest else oldest
    by_status = dict(
        (
            await session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.status.in_((SENDING, FAILED)))
                .group_by(OutboxMessage.status)
            )
        ).all()
    )
    waiting, first_open = (
        await session.execute(
            select(func.count(), func.min(SupportRequest.created_at)).where(
                SupportRequest.status == Status.OPEN.value
            )
        )
    ).one()
    return Health(
        outbox_due=due,
        outbox_sending=int(by_status.get(SENDING, 0)),
        outbox_failed=int(by_status.get(FAILED, 0)),
        outbox_oldest_due_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        escalations_waiting=int(waiting),
        escalation_oldest_wait_seconds=(
            max(0.0, (now - first_open).total_seconds()) if first_open else 0.0
        ),
    )
