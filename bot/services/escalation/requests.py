"""The life of a request: open (or raise its urgency), add words, cancel, claim (and undo a
claim that could not be completed), resolve, hand off; and what an erasure does to it.

Each transition is one unit of work: the row change, the outbox rows it causes (alert,
ladder steps, edits of the alert) and the audit entry commit together or not at all. The
request is saved before anything is sent to anyone.

Every action names the server it comes from, and a request of another server is refused
exactly as a missing one is (a custom id is text anyone can write). Moderators' actions take
an `Actor` and are checked against the request's own server's moderator roles here, not
only in the discord adapter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n
from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import AuditEntry, SupportRequest
from bot.db.repositories import audit, outbox
from bot.db.repositories import escalation as repo
from bot.db.repositories.escalation import RequestRow
from bot.domain.escalation import (
    Actor,
    AlertPlan,
    LadderStep,
    NotModerator,
    Previous,
    Status,
    TransitionRefused,
    Urgency,
    append_context,
    check_claim,
    check_hand_off,
    check_member_change,
    check_resolve,
    clean_context,
    is_rise,
    ping_now,
    plan_alert,
    queue_order,
)
from bot.i18n import N_, _
from bot.jobs.delivery import plain_payload
from bot.services import languages
from bot.services.escalation import render
from bot.services.escalation.config import Resources, member_resources
from bot.services.escalation.info import EscalationConfig, RequestInfo, config_from, request_info

SUBJECT = "support_request"
KIND_ALERT = "talk.alert"
KIND_STEP = {LadderStep.REPING: "talk.reping", LadderStep.ESCALATE: "talk.escalate"}
KIND_MEMBER_UPDATE = "talk.member_update"
KIND_REFRESH = "talk.alert_refresh"
# A reply to the alert: the member asked again (folded into it), or said it is more urgent.
KIND_AGAIN = "talk.again"
# A note to the moderator with the member (their thread), e.g. the urgency rose meanwhile.
KIND_TO_CLAIMER = "talk.to_claimer"
# The alert of an erased request that may already be in Discord: neutralised (see erasure).
KIND_WITHDRAWN = "talk.withdrawn"

NOT_HERE = N_("I can't find that request here any more. Nothing was changed.")
NOT_THEIRS = N_("Only the member who asked can change this request.")


@dataclass(frozen=True)
class Opened:
    request: RequestInfo
    config: EscalationConfig
    resources: Resources
    plan: AlertPlan


@dataclass(frozen=True)
class AlreadyOpen:
    request: RequestInfo
    resources: Resources


@dataclass(frozen=True)
class Raised:
    """The member's open request now has the more urgent `request.urgency`."""

    request: RequestInfo
    previous: Urgency
    config: EscalationConfig
    resources: Resources
    pinged: bool  # the team was pinged at once (the flood limit may hold a ping back)


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
) -> Opened | AlreadyOpen | Raised:
    """Ask for someone. Never refused: a member with an open request is told so (or, asking
    more urgently, has it raised); anyone else gets a new request at once."""
    text = clean_context(context)
    now = clock.now()
    async with db.session() as session:
        config = config_from(guild_id, await repo.settings_row(session, guild_id))
        resources = member_resources(config, locale)
        # The member's active request, if any, is their newest: a request is opened only when
        # none is active, and one closed never opens again. So one read tells both.
        previous = await repo.latest_request(session, guild_id, member_id, for_update=True)
        if previous is not None and Status(previous.status).active:
            return await _already_open(session, previous, urgency, config, resources, now)
        plan = plan_alert(_previous(previous, config), urgency, now)
        fold = previous if plan.fold else None
        values: dict[str, Any] = {
            "guild_id": guild_id,
            "member_id": member_id,
            "urgency": urgency.value,
            "status": Status.OPEN.value,
            "locale": locale,
            "context": text,
            "generation": 0,
            "created_at": now,
            "updated_at": now,
            "repeat": plan.repeat,
            "pinged_at": now if plan.ping or previous is None else previous.pinged_at,
            "pinged_urgency": (
                urgency.value if plan.ping or previous is None else previous.pinged_urgency
            ),
            # Folded into the alert of the request closed a moment ago: it takes that alert.
            "alert_channel_id": fold.alert_channel_id if fold else None,
            "alert_message_id": fold.alert_message_id if fold else None,
        }
        request_id = await repo.insert_request(session, values)
        if request_id is None:
            # Another /talk from the same member won the race for the one active request.
            existing = await repo.active_request(session, guild_id, member_id)
            assert existing is not None
            return AlreadyOpen(request_info(existing), resources)
        # Saved by the statement above; this copy (not in the session) is only read.
        row = SupportRequest(id=request_id, **values)
        if fold is not None:
            await _take_over_alert(session, row, fold, plan, now)
            await _schedule_ladder(session, row, config, start=now)
        else:
            alert = _queued(row, "alert", KIND_ALERT, due_at=now, channel=config.alert_channel_id)
            await outbox.enqueue_many(
                session, [alert, *_ladder_messages(row, config, start=now)], now=now
            )
        await _audit(
            session,
            row,
            member_id,
            "talk.opened",
            now,
            urgency=urgency.value,
            **({"folded": plan.repeat, "pinged": plan.ping} if plan.fold else {}),
        )
        return Opened(request_info(row), config, resources, plan)


def _previous(row: SupportRequest | None, config: EscalationConfig) -> Previous | None:
    if row is None:
        return None
    return Previous(
        status=Status(row.status),
        closed_at=row.closed_at,
        alert_posted=row.alert_message_id is not None,
        same_channel=row.alert_channel_id == config.alert_channel_id,
        pinged_at=row.pinged_at,
        pinged_urgency=Urgency(row.pinged_urgency) if row.pinged_urgency else None,
        repeat=row.repeat,
    )


async def _take_over_alert(
    session: AsyncSession,
    row: SupportRequest,
    previous: SupportRequest,
    plan: AlertPlan,
    now: datetime,
) -> None:
    """Fold the new request into the alert of the one the member closed a moment ago: the
    alert shows the new request (and its buttons; `row` was saved with the alert's ids),
    and a reply says they asked again."""
    previous.alert_channel_id, previous.alert_message_id = None, None
    await _refresh_alert(session, row, now)
    # Once more a little later: with several processes, an edit for the earlier request
    # prepared just before the fold could otherwise be the last to reach the message.
    await _refresh_alert(session, row, now, after=timedelta(seconds=10))
    await _queue(
        session,
        row,
        "again",
        KIND_AGAIN,
        due_at=now,
        now=now,
        channel=row.alert_channel_id,
        extra={"generation": 0, "reason": "again", "ping": plan.ping, "repeat": plan.repeat},
    )


async def _already_open(
    session: AsyncSession,
    row: SupportRequest,
    urgency: Urgency,
    config: EscalationConfig,
    resources: Resources,
    now: datetime,
) -> AlreadyOpen | Raised:
    current = Urgency(row.urgency)
    if not is_rise(current, urgency):
        return AlreadyOpen(request_info(row), resources)
    row.urgency = urgency.value
    row.updated_at = now
    pinged = False
    if row.status == Status.OPEN.value:
        # A new generation: the old ladder falls silent, the new one runs at the new pace,
        # and the team is pinged at once with the new urgency, unless the flood limit holds
        # it back (they were pinged about this member at this urgency a moment ago).
        pinged = ping_now(
            Urgency(row.pinged_urgency) if row.pinged_urgency else None,
            row.pinged_at,
            urgency,
            row.repeat,
            now,
        )
        if pinged:
            row.pinged_at, row.pinged_urgency = now, urgency.value
        await _cancel_ladder(session, row)
        row.generation += 1
        await _queue(
            session,
            row,
            f"g{row.generation}:raised",
            KIND_AGAIN,
            due_at=now,
            now=now,
            channel=config.alert_channel_id,
            extra={"generation": row.generation, "reason": "raised", "ping": pinged},
        )
        await _schedule_ladder(session, row, config, start=now)
    else:  # claimed: tell the moderator who is with them
        await _queue(
            session,
            row,
            f"raised:{urgency}",
            KIND_TO_CLAIMER,
            due_at=now,
            now=now,
            channel=row.thread_id or config.alert_channel_id,
            extra={"claimed_by": row.claimed_by},
        )
    await _refresh_alert(session, row, now)
    await _audit(
        session,
        row,
        row.member_id,
        "talk.urgency_raised",
        now,
        previous=current.value,
        urgency=urgency.value,
    )
    return Raised(request_info(row), current, config, resources, pinged)


async def add_context(
    db: Database,
    clock: Clock,
    request_id: int,
    member_id: int,
    text: str,
    *,
    guild_id: int | None = None,
) -> RequestInfo:
    """The member adds words. `guild_id`: the server the button was pressed in (None in a
    DM, where the request being the member's own is what binds it)."""
    addition = clean_context(text)
    if addition is None:
        raise TransitionRefused(_("There was nothing to add. Nothing was changed."))
    async with db.session() as session:
        row = await _member_request(session, request_id, member_id, guild_id)
        try:
            row.context = append_context(row.context, addition, clock.now())
        except ValueError:
            raise TransitionRefused(
                _(
                    "Your request already holds as many words as I can keep. Once a moderator "
                    "is with you, you can tell them more in your private thread."
                )
            ) from None
        row.updated_at = clock.now()
        await _refresh_alert(session, row, clock.now())
        await _audit(session, row, member_id, "talk.context_added", clock.now())
        return request_info(row)


async def cancel(
    db: Database, clock: Clock, request_id: int, member_id: int, *, guild_id: int | None = None
) -> RequestInfo:
    """The member says "I'm OK now"."""
    async with db.session() as session:
        row = await _member_request(session, request_id, member_id, guild_id)
        await _close(session, row, Status.CANCELLED, member_id, clock.now())
        await _refresh_alert(session, row, clock.now())
        await _audit(session, row, member_id, "talk.cancelled", clock.now())
        return request_info(row)


async def claim(
    db: Database, clock: Clock, guild_id: int, request_id: int, actor: Actor
) -> RequestInfo:
    """A moderator takes the request. The ladder is not cancelled here: its steps skip
    themselves while the request is claimed, so `undo_claim` can give it back unchanged."""
    async with db.session() as session:
        row = await _moderated(session, guild_id, request_id, actor)
        check_claim(Status(row.status))
        if row.member_id == actor.user_id:
            raise TransitionRefused(_("You can't claim your own request; another moderator will."))
        now = clock.now()
        row.status = Status.CLAIMED.value
        row.claimed_by = actor.user_id
        row.claimed_at = now
        row.updated_at = now
        await _backup_refresh(session, row, now)
        await _audit(session, row, actor.user_id, "talk.claimed", now)
        return request_info(row)


async def undo_claim(
    db: Database,
    clock: Clock,
    guild_id: int,
    request_id: int,
    moderator_id: int,
    claimed_at: datetime,
) -> bool:
    """Give back a claim that could not be completed (the moderator was never told and no
    thread was opened for it): the request is open again and its ladder goes on as it was.
    Its steps that were not sent are scheduled again in a new generation, at their times
    (now, for those that fell due meanwhile); the old generation's rows fall silent, so a
    step a dispatcher was skipping while the claim held is not lost. False if this claim
    (`claimed_at`, by `moderator_id`) is no longer the request's."""
    async with db.session() as session:
        row = await _request(session, request_id, guild_id)
        if (
            row.status != Status.CLAIMED.value
            or row.claimed_by != moderator_id
            or row.claimed_at != claimed_at
        ):
            return False
        now = clock.now()
        unsent = {}
        for suffix in _ladder_suffixes(row):
            message = await outbox.get_by_key(session, _key(row, suffix))
            if message is not None and message.status != outbox.SENT:
                unsent[suffix.split(":", 1)[1]] = message
                await outbox.cancel(session, message.idempotency_key)
        row.status = Status.OPEN.value
        row.claimed_by = None
        row.claimed_at = None
        row.updated_at = now
        row.generation += 1
        for step, message in unsent.items():
            await outbox.enqueue(
                session,
                key=_key(row, f"g{row.generation}:{step}"),
                kind=message.kind,
                target_type=message.target_type,
                target_id=message.target_id,
                payload={**message.payload, "generation": row.generation},
                due_at=max(message.due_at, now),
                now=now,
                guild_id=row.guild_id,
                member_id=row.member_id,
            )
        await _refresh_alert(session, row, now)
        await _audit(session, row, moderator_id, "talk.claim_undone", now)
        return True


async def resolve(
    db: Database, clock: Clock, guild_id: int, request_id: int, actor: Actor
) -> RequestInfo:
    async with db.session() as session:
        row = await _moderated(session, guild_id, request_id, actor)
        check_resolve(Status(row.status))
        await _close(session, row, Status.RESOLVED, actor.user_id, clock.now())
        await _backup_refresh(session, row, clock.now())
        await _audit(session, row, actor.user_id, "talk.resolved", clock.now())
        return request_info(row)


async def hand_off(
    db: Database, clock: Clock, guild_id: int, request_id: int, actor: Actor
) -> RequestInfo:
    """Free a claimed request for another moderator: ping again now, and restart the ladder."""
    async with db.session() as session:
        row = await _moderated(session, guild_id, request_id, actor)
        check_hand_off(Status(row.status))
        now = clock.now()
        config = config_from(row.guild_id, await repo.get_settings(session, row.guild_id))
        previous = row.claimed_by
        await _cancel_ladder(session, row)
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
        await _backup_refresh(session, row, now)
        await _audit(session, row, actor.user_id, "talk.handed_off", now, other_member_id=previous)
        return request_info(row)


async def record_thread(
    db: Database, clock: Clock, guild_id: int, request_id: int, thread_id: int, moderator_id: int
) -> RequestInfo:
    """Remember a request's private thread, right after it is created, so it is never lost.
    The caller checks the returned status: the member may have closed the request while the
    thread was being opened, and then the thread is closed rather than used."""
    async with db.session() as session:
        row = await _request(session, request_id, guild_id)
        row.thread_id = thread_id
        await _audit(
            session, row, moderator_id, "talk.thread_opened", clock.now(), thread=thread_id
        )
        return request_info(row)


async def record_alert(
    session: AsyncSession,
    now: datetime,
    guild_id: int,
    request_id: int,
    channel_id: int,
    message_id: int,
    *,
    shown: dict[str, Any] | None = None,
) -> None:
    """Remember where the alert is, in the caller's unit of work (the outbox's, which marks
    it sent). If the request changed while the alert was on its way (the member cancelled,
    raised it or added words in that instant), bring the alert up to date: `shown` is the
    embed that was posted (None when unknown, e.g. an earlier copy found after a crash: then
    it is always brought up to date)."""
    row = await repo.place_alert(session, guild_id, request_id, channel_id, message_id)
    if row is None:
        # Erased while its alert was on its way: the alert must not name them.
        await _withdraw_alert(session, guild_id, request_id, channel_id, message_id, now)
        return
    # Compared in the language the alert was posted in: the server's.
    with i18n.speaking(await languages.of_server(session, guild_id)):
        current = render.alert_embed(request_info(row))
    if shown is None or shown != current:
        await _refresh_alert(session, row, now)


async def repost_alert(
    db: Database, clock: Clock, guild_id: int, request_id: int, gone_message_id: int
) -> bool:
    """The alert of an active request is gone from Discord (a moderator deleted it, e.g.
    the closed alert a new request was folded into): post a new one. False if the request
    is closed or already has another alert."""
    now = clock.now()
    async with db.session() as session:
        row = await repo.get_request(session, request_id, for_update=True)
        if row is None or row.guild_id != guild_id or not Status(row.status).active:
            return False
        if row.alert_message_id != gone_message_id:
            return False
        config = config_from(guild_id, await repo.get_settings(session, guild_id))
        row.alert_channel_id = row.alert_message_id = None
        await _queue(
            session,
            row,
            f"alert:{gone_message_id}",
            KIND_ALERT,
            due_at=now,
            now=now,
            channel=config.alert_channel_id,
        )
        await _audit(session, row, 0, "talk.alert_reposted", now, gone=gone_message_id)
        return True


async def withdraw_alert(
    db: Database, clock: Clock, guild_id: int, request_id: int, channel_id: int, message_id: int
) -> None:
    """Neutralise an alert message of an erased request (see `KIND_WITHDRAWN`)."""
    async with db.session() as session:
        await _withdraw_alert(session, guild_id, request_id, channel_id, message_id, clock.now())


async def read_context(
    db: Database, clock: Clock, guild_id: int, request_id: int, actor: Actor
) -> tuple[RequestInfo, str | None]:
    """The member's words, for one moderator's eyes; each reading is audited."""
    async with db.session() as session:
        row = await _moderated(session, guild_id, request_id, actor)
        await _audit(session, row, actor.user_id, "talk.context_viewed", clock.now())
        return request_info(row), row.context


async def get_request(db: Database, request_id: int, *, guild_id: int | None = None) -> RequestInfo:
    async with db.lookup() as session:
        return request_info(await _request(session, request_id, guild_id, for_update=False))


async def member_request(
    db: Database, request_id: int, member_id: int, *, guild_id: int | None = None
) -> RequestInfo:
    """The member's own active request (e.g. before showing them the form to add words)."""
    async with db.lookup() as session:
        row = await _request(session, request_id, guild_id, for_update=False)
        if row.member_id != member_id:
            raise NotYours(_(NOT_THEIRS))
        check_member_change(Status(row.status))
        return request_info(row)


async def context_for_thread(db: Database, guild_id: int, request_id: int) -> str | None:
    """The context, to open the private thread that the member is part of."""
    async with db.lookup() as session:
        return (await _request(session, request_id, guild_id, for_update=False)).context


async def queue(db: Database, guild_id: int) -> list[RequestInfo]:
    async with db.read() as session:
        rows = await repo.active_requests(session, guild_id)
        return queue_order(request_info(row) for row in rows)


# Audit actions that mean a moderator acted on a request.
MODERATOR_ACTIONS = ("talk.claimed", "talk.resolved", "talk.handed_off")


@dataclass(frozen=True)
class ErasedRequests:
    deleted: int
    kept: set[int]  # ids of requests kept under the member's pseudonym
    outbox: int = 0  # outbox rows about the deleted requests, deleted with them


async def erase_member(
    session: AsyncSession, guild_id: int, member_id: int, *, tomb: int, now: datetime
) -> ErasedRequests:
    """A member's requests when they erase their data (or leave and are erased), in the
    caller's unit of work. Requests a moderator acted on stay, under the member's pseudonym
    and without their words (moderators' actions stay accountable); the rest go, with every
    outbox row about them. An active one is closed first. Every alert of theirs is edited
    to a neutral note without buttons, so it no longer names them."""
    rows = await repo.member_requests(session, guild_id, member_id)
    if not rows:
        return ErasedRequests(0, set())
    ids = [row.id for row in rows]
    # The member under either name: the rest of the erasure may have put their pseudonym
    # in place already (e.g. as who closed their own request: "I'm OK now").
    themselves = (member_id, tomb)
    acted_on = set(
        (
            await session.scalars(
                select(SupportRequest.id).where(
                    SupportRequest.id.in_(ids),
                    or_(
                        and_(
                            SupportRequest.claimed_by.is_not(None),
                            SupportRequest.claimed_by.not_in(themselves),
                        ),
                        and_(
                            SupportRequest.closed_by.is_not(None),
                            SupportRequest.closed_by.not_in(themselves),
                        ),
                        SupportRequest.id.in_(
                            select(AuditEntry.subject_id).where(
                                AuditEntry.guild_id == guild_id,
                                AuditEntry.subject_type == SUBJECT,
                                AuditEntry.action.in_(MODERATOR_ACTIONS),
                                AuditEntry.actor_id.not_in(themselves),
                            )
                        ),
                    ),
                )
            )
        ).all()
    )
    deleted = outbox_rows = 0
    for row in rows:
        alert = (row.alert_channel_id, row.alert_message_id)
        if alert[1] is None:
            await _withdraw_alert_in_flight(session, row, now)
        if row.id in acted_on:
            if Status(row.status).active:
                await _cancel_ladder(session, row)
                row.status = Status.CANCELLED.value
                row.closed_by, row.closed_at, row.updated_at = tomb, now, now
            row.member_id, row.context = tomb, None
            row.alert_channel_id = row.alert_message_id = None
        else:
            outbox_rows += await outbox.delete_by_key_prefix(session, f"talk:{row.id}:")
            await session.delete(row)
            deleted += 1
        if alert[0] and alert[1]:
            await _withdraw_alert(session, guild_id, row.id, alert[0], alert[1], now)
    return ErasedRequests(deleted, acted_on, outbox_rows)


async def refresh_alerts_handled_by(
    session: AsyncSession, guild_id: int, tomb: int, now: datetime
) -> None:
    """A moderator's data was erased (their id on requests is now `tomb`): the alerts of
    requests they claimed or closed are edited so they no longer name them."""
    rows = await session.scalars(
        select(SupportRequest).where(
            SupportRequest.guild_id == guild_id,
            SupportRequest.alert_message_id.is_not(None),
            or_(SupportRequest.claimed_by == tomb, SupportRequest.closed_by == tomb),
        )
    )
    for row in rows.all():
        await _refresh_alert(session, row, now)


async def _withdraw_alert(
    session: AsyncSession,
    guild_id: int,
    request_id: int,
    channel_id: int,
    message_id: int,
    now: datetime,
) -> None:
    """Edit an alert to a neutral note without buttons (its request was erased). The note is
    stored as it is written, so it is written now in the server's language (an erasure runs
    in the member's own interaction, or in no language at all)."""
    with i18n.speaking(await languages.of_server(session, guild_id)):
        note = _(render.WITHDRAWN)
    await outbox.enqueue(
        session,
        key=f"talk-erased:{request_id}:{message_id}",
        kind="plain",
        target_type="channel",
        target_id=channel_id,
        payload={**plain_payload(note), "edit_message_id": message_id},
        due_at=now,
        now=now,
        guild_id=guild_id,
    )


async def _withdraw_alert_in_flight(
    session: AsyncSession, row: SupportRequest, now: datetime
) -> None:
    """An erased request's alert may have reached Discord without its message id being
    recorded (a crash or a timeout mid-send). Its outbox row is kept under another key as a
    KIND_WITHDRAWN message, which looks for that message (by its footer) and edits it to the
    neutral note; nothing is posted if it isn't there."""
    message = await outbox.get_by_key(session, _key(row, "alert"))
    if message is None or message.attempts == 0:
        return  # never tried: it goes with the request
    message.idempotency_key = f"talk-erased:{row.id}:alert"
    message.member_id = None  # it no longer names them
    message.kind = KIND_WITHDRAWN
    message.payload = {"request_id": row.id}
    if message.status != outbox.SENDING:  # a dispatcher holding it keeps its lease
        message.status, message.due_at, message.last_error = outbox.PENDING, now, None
        message.attempts = 0


async def _schedule_ladder(
    session: AsyncSession, row: SupportRequest, config: EscalationConfig, start: datetime
) -> None:
    await outbox.enqueue_many(session, _ladder_messages(row, config, start), now=start)


def _ladder_messages(
    row: SupportRequest, config: EscalationConfig, start: datetime
) -> list[outbox.Queued]:
    """The ladder's steps for the request's current generation, from `start`."""
    generation = f"g{row.generation}"
    extra: dict[str, object] = {"generation": row.generation}
    messages = []
    for step, due_at in config.ladder.steps(Urgency(row.urgency), start):
        messages.append(
            _queued(
                row,
                f"{generation}:{step}",
                KIND_STEP[step],
                due_at=due_at,
                channel=config.alert_channel_id,
                extra=extra,
            )
        )
        if step is LadderStep.ESCALATE:
            messages.append(
                _queued(
                    row,
                    f"{generation}:member",
                    KIND_MEMBER_UPDATE,
                    due_at=due_at,
                    to_member=True,
                    extra=extra,
                )
            )
    return messages


async def _refresh_alert(
    session: AsyncSession,
    row: SupportRequest | RequestRow,
    now: datetime,
    *,
    after: timedelta | None = None,
) -> None:
    """Queue an edit of the alert to show the request's state (sent once the alert exists)."""
    await _queue(
        session,
        row,
        f"refresh:{uuid.uuid4().hex}",
        KIND_REFRESH,
        due_at=now + after if after else now,
        now=now,
        channel=row.alert_channel_id,
    )


# A moderator's button edits the alert in its own answer; a backup edit a little later makes
# sure the alert is right even if that answer failed (and, coming after it, never undoes it).
BACKUP_REFRESH = timedelta(seconds=5)


async def _backup_refresh(session: AsyncSession, row: SupportRequest, now: datetime) -> None:
    await _refresh_alert(session, row, now, after=BACKUP_REFRESH)


def _key(row: SupportRequest | RequestRow, suffix: str) -> str:
    return f"talk:{row.id}:{suffix}"


async def _queue(
    session: AsyncSession,
    row: SupportRequest | RequestRow,
    suffix: str,
    kind: str,
    *,
    due_at: datetime,
    now: datetime,
    channel: int | None = None,
    to_member: bool = False,
    extra: dict[str, object] | None = None,
) -> None:
    """Queue one outbox row about this request (see `_queued`)."""
    message = _queued(
        row, suffix, kind, due_at=due_at, channel=channel, to_member=to_member, extra=extra
    )
    await outbox.enqueue_message(session, message, now=now)


def _queued(
    row: SupportRequest | RequestRow,
    suffix: str,
    kind: str,
    *,
    due_at: datetime,
    channel: int | None = None,
    to_member: bool = False,
    extra: dict[str, object] | None = None,
) -> outbox.Queued:
    """One outbox row about this request: to the member (`to_member`) or to `channel`.
    Its handler renders it from the request's state when it falls due, so the row only names
    the request (plus `extra`, e.g. the ladder generation); the alert channel is looked up
    again then, in case a moderator changed it meanwhile."""
    return outbox.Queued(
        key=_key(row, suffix),
        kind=kind,
        target_type="user" if to_member else "channel",
        target_id=row.member_id if to_member else channel or 0,
        payload={"request_id": row.id, **(extra or {})},
        due_at=due_at,
        guild_id=row.guild_id,
        member_id=row.member_id,
    )


def _ladder_suffixes(row: SupportRequest) -> tuple[str, ...]:
    generation = f"g{row.generation}"
    return tuple(
        f"{generation}:{suffix}" for suffix in (*LadderStep, "member", "handoff", "raised")
    )


async def _cancel_ladder(session: AsyncSession, row: SupportRequest) -> None:
    """Tidy up steps of the current generation that can no longer fire. (They would be
    skipped anyway: every step checks the request's state when it falls due.)"""
    for suffix in _ladder_suffixes(row):
        await outbox.cancel(session, _key(row, suffix))


async def _close(
    session: AsyncSession, row: SupportRequest, status: Status, actor_id: int, now: datetime
) -> None:
    await _cancel_ladder(session, row)
    row.status = status.value
    row.closed_by = actor_id
    row.closed_at = now
    row.updated_at = now


async def _request(
    session: AsyncSession, request_id: int, guild_id: int | None, *, for_update: bool = True
) -> SupportRequest:
    """The request, if it exists and (when `guild_id` is given) belongs to that server; a
    request of another server is refused in the same words as a missing one."""
    row = await repo.get_request(session, request_id, for_update=for_update)
    if row is None or (guild_id is not None and row.guild_id != guild_id):
        raise TransitionRefused(_(NOT_HERE))
    return row


async def _moderated(
    session: AsyncSession, guild_id: int, request_id: int, actor: Actor
) -> SupportRequest:
    """The request, for a moderator of its own server."""
    config = config_from(guild_id, await repo.get_settings(session, guild_id))
    if not actor.moderates(config.moderator_roles):
        raise NotModerator
    return await _request(session, request_id, guild_id)


async def _member_request(
    session: AsyncSession, request_id: int, member_id: int, guild_id: int | None
) -> SupportRequest:
    row = await _request(session, request_id, guild_id)
    if row.member_id != member_id:
        raise NotYours(_(NOT_THEIRS))
    check_member_change(Status(row.status))
    return row


async def _audit(
    session: AsyncSession,
    row: SupportRequest,
    actor_id: int,
    action: str,
    now: datetime,
    *,
    other_member_id: int | None = None,
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
        other_member_id=other_member_id,
        detail=dict(detail),
    )
