"""Outbox handlers for escalation: the alert, the re-ping, the escalation and the member's
reassurance. Each renders from the request's state *when it falls due*, so a step for a
request that was claimed, closed or handed off meanwhile is skipped, not sent: a restart
can neither drop a due step (it is a row) nor double it (the row is leased and marked)."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import escalation as repo
from bot.db.repositories import outbox
from bot.domain.escalation import LadderStep, Status
from bot.jobs.delivery import (
    PROBLEM_NOT_CONFIGURED,
    KindHandler,
    NoFollowUp,
    NotYet,
    Prepared,
    QueuedMessage,
    Sent,
    Skip,
    Undeliverable,
)
from bot.services.escalation.config import member_resources
from bot.services.escalation.info import EscalationConfig, RequestInfo, config_from, request_info
from bot.services.escalation.render import (
    alert_delivery,
    alert_refresh,
    escalate_delivery,
    member_update_delivery,
    owner_notice,
    problem_text,
    reping_delivery,
)
from bot.services.escalation.requests import (
    KIND_ALERT,
    KIND_MEMBER_UPDATE,
    KIND_REFRESH,
    KIND_STEP,
    record_alert,
)

RETRY_BROKEN_CHANNEL = timedelta(minutes=1)
WAIT_FOR_ALERT = timedelta(seconds=20)


class _EscalationHandler:
    max_attempts: int | None = None  # never give up on reaching a moderator

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def _load(
        self, message: QueuedMessage
    ) -> tuple[RequestInfo | None, EscalationConfig, int | None]:
        """The request, the server's settings, and the role to ping: on-duty moderators when
        anyone is on duty, otherwise the moderator role."""
        guild_id = message.guild_id or 0
        async with self.db.session() as session:
            row = await repo.get_request(session, int(message.payload["request_id"]))
            config = config_from(guild_id, await repo.get_settings(session, guild_id))
            on_duty = await repo.on_duty_count(session, guild_id)
        role = config.on_duty_role_id if on_duty and config.on_duty_role_id else None
        request = None if row is None else request_info(row)
        return request, config, role or config.moderator_role_id

    async def _not_configured(self, message: QueuedMessage) -> NotYet:
        await report_problem(
            self.db, self.clock, message.guild_id or 0, PROBLEM_NOT_CONFIGURED, None
        )
        return NotYet("escalation is not set up", RETRY_BROKEN_CHANNEL)

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        await clear_problem(self.db, self.clock, message.guild_id or 0)

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        async with self.db.session() as session:
            settings = await repo.get_settings(session, message.guild_id or 0)
        channel = settings.alert_channel_id if settings else None
        await report_problem(self.db, self.clock, message.guild_id or 0, problem.code, channel)
        return RETRY_BROKEN_CHANNEL


class AlertHandler(_EscalationHandler):
    async def prepare(self, message: QueuedMessage) -> Prepared:
        request, config, moderators = await self._load(message)
        if request is None or not request.status.active:
            return Skip("the request was closed before the alert went out")
        if request.alert_message_id:
            return Skip("the alert was already posted")
        if not config.alert_channel_id:
            return await self._not_configured(message)
        return alert_delivery(request, config, moderators)

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        await record_alert(
            self.db,
            self.clock,
            int(message.payload["request_id"]),
            sent.channel_id,
            sent.message_id,
        )
        await super().on_sent(message, sent)


class RefreshHandler(NoFollowUp, _EscalationHandler):
    """Edits the alert to match the request (after a change the alert's buttons didn't make).
    If the alert is gone or unreachable there is nothing left to update."""

    max_attempts = 5

    async def prepare(self, message: QueuedMessage) -> Prepared:
        request, _, _ = await self._load(message)
        if request is None or not (request.alert_channel_id and request.alert_message_id):
            return Skip("no alert to update (it will be rendered fresh when posted)")
        return alert_refresh(request)


def still_waiting(request: RequestInfo | None, message: QueuedMessage) -> Skip | None:
    """Why a ladder step no longer applies, or None if its request is still waiting."""
    if request is None or request.status is not Status.OPEN:
        return Skip("the request is no longer waiting")
    if request.generation != message.payload.get("generation"):
        return Skip("the request was handed off; a newer ladder is running")
    return None


class StepHandler(_EscalationHandler):
    def __init__(self, db: Database, clock: Clock, step: LadderStep) -> None:
        super().__init__(db, clock)
        self.step = step

    async def prepare(self, message: QueuedMessage) -> Prepared:
        request, config, moderators = await self._load(message)
        if (moot := still_waiting(request, message)) is not None:
            return moot
        assert request is not None
        if not config.alert_channel_id:
            return await self._not_configured(message)
        if request.alert_message_id is None:
            # Re-pings answer the alert; after an outage they follow it instead of racing it.
            return NotYet("waiting for the alert to be posted", WAIT_FOR_ALERT)
        if self.step is LadderStep.REPING:
            handoff = bool(message.payload.get("handoff"))
            return reping_delivery(request, config, moderators, handoff=handoff)
        tier = config.second_tier_role_id or config.moderator_role_id
        return escalate_delivery(request, config, tier)


class MemberUpdateHandler(NoFollowUp, _EscalationHandler):
    """The member's DM at the second timer. Closed DMs are recorded, not retried."""

    max_attempts = 8

    async def prepare(self, message: QueuedMessage) -> Prepared:
        request, config, _ = await self._load(message)
        if (moot := still_waiting(request, message)) is not None:
            return moot
        assert request is not None
        return member_update_delivery(request, member_resources(config, request.locale))


def handlers(db: Database, clock: Clock) -> dict[str, KindHandler]:
    return {
        KIND_ALERT: AlertHandler(db, clock),
        KIND_STEP[LadderStep.REPING]: StepHandler(db, clock, LadderStep.REPING),
        KIND_STEP[LadderStep.ESCALATE]: StepHandler(db, clock, LadderStep.ESCALATE),
        KIND_MEMBER_UPDATE: MemberUpdateHandler(db, clock),
        KIND_REFRESH: RefreshHandler(db, clock),
    }


async def report_problem(
    db: Database, clock: Clock, guild_id: int, code: str, channel_id: int | None
) -> None:
    """Show the problem in /about, and tell the server owner once per problem and channel."""
    text = problem_text(code, channel_id)
    now = clock.now()
    async with db.session() as session:
        await repo.update_settings(session, guild_id, now=now, alert_problem=text)
        await outbox.enqueue(
            session,
            key=f"talk:problem:{guild_id}:{channel_id or 0}:{code}",
            kind="plain",
            target_type="guild_owner",
            target_id=guild_id,
            payload=owner_notice("your server", text),
            due_at=now,
            now=now,
            guild_id=guild_id,
        )


async def clear_problem(db: Database, clock: Clock, guild_id: int) -> None:
    async with db.session() as session:
        settings = await repo.get_settings(session, guild_id)
        if settings is not None and settings.alert_problem is not None:
            settings.alert_problem = None
            settings.updated_at = clock.now()
