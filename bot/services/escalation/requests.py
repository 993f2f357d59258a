"""The life of a request: open, add context, cancel, claim, resolve, hand off.

Each transition is one unit of work: the row change, the outbox rows it causes (alert,
ladder steps) and the audit entry commit together or not at all. The request is saved
before anything is sent to anyone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import SupportRequest
from bot.db.repositories import audit, outbox
from bot.db.repositories import escalation as repo
from bot.domain.escalation import (
    LadderStep,
    Status,
    TransitionRefused,
    Urgency,
    append_context,
    check_claim,
    check_hand_off,
    check_member_change,
    check_resolve,
    clean_context,
    cooldown_left,
    queue_order,
)
from bot.services.escalation.config import Resources, member_resources
from bot.services.escalation.info import EscalationConfig, RequestInfo, config_from, request_info

SUBJECT = "support_request"
KIND_ALERT = "talk.alert"
KIND_STEP = {LadderStep.REPING: "talk.reping", LadderStep.ESCALATE: "talk.escalate"}
KIND_MEMBER_UPDATE = "talk.member_update"
KIND_REFRESH = "talk.alert_refresh"


@dataclass(frozen=True)
class Opened:
    request: RequestInfo
    config: EscalationConfig
    resources: Resources


@dataclass(frozen=True)
class AlreadyOpen:
    request: RequestInfo
    resources: Resources


@dataclass(frozen=True)
class CoolingDown:
    left: timedelta
    resources: Resources


class NotYours(TransitionRefused):
    """A member pressed a button on someone else's request."""


async def open_request(
    db: Database,
    clock: Clock,
    *,
    guild_id: int,
    member_id: int,
    urgency: Urgency,
    locale: str | None,
    context: str | None = None,
) -> Opened | AlreadyOpen | CoolingDown:
    text = clean_context(context)
    now = clock.now()
    async with db.session() as session:
        config = config_from(guild_id, await repo.get_settings(session, guild_id))
        resources = member_resources(config, locale)
        existing = await repo.active_request(session, guild_id, member_id, for_update=True)
        if existing is not None:
            return AlreadyOpen(request_info(existing), resources)
        left = cooldown_left(await repo.last_request_at(session, guild_id, member_id), now)
        if left is not None:
            # The recent request may be one a concurrent /talk committed a moment ago.
            existing = await repo.active_request(session, guild_id, member_id)
            if existing is not None:
                return AlreadyOpen(request_info(existing), resources)
            return CoolingDown(left, resources)
        row = SupportRequest(
            guild_id=guild_id,
            member_id=member_id,
            urgency=urgency.value,
            status=Status.OPEN.value,
            locale=locale,
            context=text,
            generation=0,
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                await repo.add_request(session, row)
        except IntegrityError:
            # Another /talk from the same member won the race for the one active request.
            existing = await repo.active_request(session, guild_id, member_id)
            assert existing is not None
            return AlreadyOpen(request_info(existing), resources)
        await _queue(
            session, row, "alert", KIND_ALERT, due_at=now, now=now, channel=config.alert_channel_id
        )
        await _schedule_ladder(session, row, config, start=now)
        await _audit(session, row, member_id, "talk.opened", now, urgency=urgency.value)
        return Opened(request_info(row), config, resources)


async def add_context(
    db: Database, clock: Clock, request_id: int, member_id: int, text: str
) -> RequestInfo:
    addition = clean_context(text)
    if addition is None:
        raise TransitionRefused("There was nothing to add. Nothing was changed.")
    async with db.session() as session:
        row = await _member_request(session, request_id, member_id)
        try:
            row.context = append_context(row.context, addition, clock.now())
        except ValueError:
            raise TransitionRefused(
                "Your request already holds as many words as I can keep. Once a moderator is "
                "with you, you can tell them more in your private thread."
            ) from None
        row.updated_at = clock.now()
        await _refresh_alert(session, row, clock.now())
        await _audit(session, row, member_id, "talk.context_added", clock.now())
        return request_info(row)


async def cancel(db: Database, clock: Clock, request_id: int, member_id: int) -> RequestInfo:
    """The member says "I'm OK now"."""
    async with db.session() as session:
        row = await _member_request(session, request_id, member_id)
        await _close(session, row, Status.CANCELLED, member_id, clock.now())
        await _refresh_alert(session, row, clock.now())
        await _audit(session, row, member_id, "talk.cancelled", clock.now())
        return request_info(row)


async def claim(db: Database, clock: Clock, request_id: int, moderator_id: int) -> RequestInfo:
    async with db.session() as session:
        row = await _request(session, request_id)
        check_claim(Status(row.status))
        if row.member_id == moderator_id:
            raise TransitionRefused("You can't claim your own request; another moderator will.")
        now = clock.now()
        await _cancel_ladder(session, row)
        row.status = Status.CLAIMED.value
        row.claimed_by = moderator_id
        row.claimed_at = now
        row.updated_at = now
        await _audit(session, row, moderator_id, "talk.claimed", now)
        return request_info(row)


async def resolve(db: Database, clock: Clock, request_id: int, moderator_id: int) -> RequestInfo:
    async with db.session() as session:
        row = await _request(session, request_id)
        check_resolve(Status(row.status))
        await _close(session, row, Status.RESOLVED, moderator_id, clock.now())
        await _audit(session, row, moderator_id, "talk.resolved", clock.now())
        return request_info(row)


async def hand_off(db: Database, clock: Clock, request_id: int, moderator_id: int) -> RequestInfo:
    """Free a claimed request for another moderator: ping again now, and restart the ladder."""
    async with db.session() as session:
        row = await _request(session, request_id)
        check_hand_off(Status(row.status))
        now = clock.now()
        config = config_from(row.guild_id, await repo.get_settings(session, row.guild_id))
        previous = row.claimed_by
        row.status = Status.OPEN.value
        row.claimed_by = None
        row.claimed_at = None
        row.generation += 1
        row.updated_at = now
        await _queue(
            session,
            row,
            f"g{row.generation}:handoff",
            KIND_STEP[LadderStep.REPING],
            due_at=now,
            now=now,
            channel=config.alert_channel_id,
            extra={"generation": row.generation, "handoff": True},
        )
        await _schedule_ladder(session, row, config, start=now)
        await _audit(session, row, moderator_id, "talk.handed_off", now, previous=previous)
        return request_info(row)


async def record_thread(
    db: Database, clock: Clock, request_id: int, thread_id: int, moderator_id: int
) -> RequestInfo:
    """Remember a request's private thread, right after it is created, so it is never lost.
    The caller checks the returned status: the member may have closed the request while the
    thread was being opened, and then the thread is closed rather than used."""
    async with db.session() as session:
        row = await _request(session, request_id)
        row.thread_id = thread_id
        await _audit(
            session, row, moderator_id, "talk.thread_opened", clock.now(), thread=thread_id
        )
        return request_info(row)


async def record_alert(
    db: Database, clock: Clock, request_id: int, channel_id: int, message_id: int
) -> None:
    """Remember where the alert is. If the request changed while the alert was on its way
    (the member cancelled or added words in that instant), bring the alert up to date."""
    async with db.session() as session:
        row = await _request(session, request_id)
        row.alert_channel_id = channel_id
        row.alert_message_id = message_id
        if row.updated_at > row.created_at:
            await _refresh_alert(session, row, clock.now())


async def read_context(
    db: Database, clock: Clock, request_id: int, moderator_id: int
) -> tuple[RequestInfo, str | None]:
    """The member's words, for one moderator's eyes; each reading is audited."""
    async with db.session() as session:
        row = await _request(session, request_id)
        await _audit(session, row, moderator_id, "talk.context_viewed", clock.now())
        return request_info(row), row.context


async def get_request(db: Database, request_id: int) -> RequestInfo:
    async with db.session() as session:
        return request_info(await _request(session, request_id, for_update=False))


async def context_for_thread(db: Database, request_id: int) -> str | None:
    """The context, to open the private thread that the member is part of."""
    async with db.session() as session:
        return (await _request(session, request_id, for_update=False)).context


async def queue(db: Database, guild_id: int) -> list[RequestInfo]:
    async with db.session() as session:
        rows = await repo.active_requests(session, guild_id)
        return queue_order(request_info(row) for row in rows)


async def _schedule_ladder(
    session: AsyncSession, row: SupportRequest, config: EscalationConfig, start: datetime
) -> None:
    urgency = Urgency(row.urgency)
    generation = f"g{row.generation}"
    for step, due_at in config.ladder.steps(urgency, start):
        await _queue(
            session,
            row,
            f"{generation}:{step}",
            KIND_STEP[step],
            due_at=due_at,
            now=start,
            channel=config.alert_channel_id,
            extra={"generation": row.generation},
        )
        if step is LadderStep.ESCALATE:
            await _queue(
                session,
                row,
                f"{generation}:member",
                KIND_MEMBER_UPDATE,
                due_at=due_at,
                now=start,
                to_member=True,
                extra={"generation": row.generation},
            )


async def _refresh_alert(session: AsyncSession, row: SupportRequest, now: datetime) -> None:
    """Queue an edit of the alert to show the request's state (sent once the alert exists)."""
    await _queue(
        session,
        row,
        f"refresh:{uuid.uuid4().hex}",
        KIND_REFRESH,
        due_at=now,
        now=now,
        channel=row.alert_channel_id,
    )


async def _queue(
    session: AsyncSession,
    row: SupportRequest,
    suffix: str,
    kind: str,
    *,
    due_at: datetime,
    now: datetime,
    channel: int | None = None,
    to_member: bool = False,
    extra: dict[str, object] | None = None,
) -> None:
    """Queue one outbox row about this request: to the member (`to_member`) or to `channel`.
    Its handler renders it from the request's state when it falls due, so the row only names
    the request (plus `extra`, e.g. the ladder generation); the alert channel is looked up
    again then, in case a moderator changed it meanwhile."""
    payload: dict[str, object] = {"request_id": row.id, **(extra or {})}
    await outbox.enqueue(
        session,
        key=f"talk:{row.id}:{suffix}",
        kind=kind,
        target_type="user" if to_member else "channel",
        target_id=row.member_id if to_member else channel or 0,
        payload=payload,
        due_at=due_at,
        now=now,
        guild_id=row.guild_id,
    )


async def _cancel_ladder(session: AsyncSession, row: SupportRequest) -> None:
    """Tidy up steps that can no longer fire. (They would be skipped anyway: every step
    checks the request's state when it falls due.)"""
    prefix = f"talk:{row.id}:g{row.generation}"
    for suffix in (*LadderStep, "member", "handoff"):
        await outbox.cancel(session, f"{prefix}:{suffix}")


async def _close(
    session: AsyncSession, row: SupportRequest, status: Status, actor_id: int, now: datetime
) -> None:
    await _cancel_ladder(session, row)
    row.status = status.value
    row.closed_by = actor_id
    row.closed_at = now
    row.updated_at = now


async def _request(
    session: AsyncSession, request_id: int, *, for_update: bool = True
) -> SupportRequest:
    row = await repo.get_request(session, request_id, for_update=for_update)
    if row is None:
        raise TransitionRefused("I can't find that request any more.")
    return row


async def _member_request(session: AsyncSession, request_id: int, member_id: int) -> SupportRequest:
    row = await _request(session, request_id)
    if row.member_id != member_id:
        raise NotYours("Only the member who asked can change this request.")
    check_member_change(Status(row.status))
    return row


async def _audit(
    session: AsyncSession,
    row: SupportRequest,
    actor_id: int,
    action: str,
    now: datetime,
    **detail: object,
) -> None:
    await audit.append(
        session,
        guild_id=row.guild_id,
        actor_id=actor_id,
        action=action,
        now=now,
        subject_type=SUBJECT,
        subject_id=row.id,
        detail=dict(detail),
    )
