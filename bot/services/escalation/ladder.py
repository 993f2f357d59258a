"""Outbox handlers for escalation: the alert, the re-ping, the escalation and the member's
reassurance, "asked again" and "more urgent now" notes. Each renders from the request's
state *when it falls due*, so a step for a request that was claimed, closed or handed off
meanwhile is skipped, not sent: a restart can neither drop a due step (it is a row) nor
double it (the row is leased and marked). A row is only ever about a request of its own
server: one that names a request of another server is skipped."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n
from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import escalation as repo
from bot.db.repositories import outbox
from bot.domain.escalation import LadderStep, Status
from bot.jobs.delivery import (
    PROBLEM_NOT_CONFIGURED,
    PROBLEM_NOT_POSTED,
    PROBLEM_UNKNOWN_TARGET,
    KindHandler,
    NoFollowUp,
    NotYet,
    Prepared,
    QueuedMessage,
    Sent,
    Skip,
    Undeliverable,
)
from bot.services import languages
from bot.services.escalation.config import member_resources
from bot.services.escalation.info import EscalationConfig, RequestInfo, config_from, request_info
from bot.services.escalation.render import (
    again_delivery,
    alert_delivery,
    alert_footer,
    alert_refresh,
    escalate_delivery,
    member_update_delivery,
    owner_notice,
    problem_text,
    reping_delivery,
    to_claimer_delivery,
    withdrawn_delivery,
)
from bot.services.escalation.requests import (
    KIND_AGAIN,
    KIND_ALERT,
    KIND_MEMBER_UPDATE,
    KIND_REFRESH,
    KIND_STEP,
    KIND_TO_CLAIMER,
    KIND_WITHDRAWN,
    record_alert,
    repost_alert,
    withdraw_alert,
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
        async with self.db.lookup() as session:
            context = await repo.message_context(
                session, guild_id, int(message.payload["request_id"])
            )
        config = config_from(guild_id, context.settings)
        role = config.on_duty_role_id if context.on_duty and config.on_duty_role_id else None
        request = None if context.request is None else request_info(context.request)
        return request, config, role or config.moderator_role_id

    async def _waiting(
        self, message: QueuedMessage
    ) -> tuple[RequestInfo, EscalationConfig, int | None] | Prepared:
        """The request, settings and role for a message that pings while the request waits
        (in this message's generation); otherwise why not to send it (skip, or wait for
        set-up)."""
        request, config, moderators = await self._load(message)
        if (moot := still_waiting(request, message)) is not None:
            return moot
        assert request is not None
        if not config.alert_channel_id:
            return await self._not_configured(message)
        return request, config, moderators

    async def _not_configured(self, message: QueuedMessage) -> NotYet:
        await report_problem(
            self.db, self.clock, message.guild_id or 0, PROBLEM_NOT_CONFIGURED, None
        )
        return NotYet("escalation is not set up", RETRY_BROKEN_CHANNEL)

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        async with self.db.session() as session:
            settings = await repo.get_settings(session, message.guild_id or 0)
        channel = settings.alert_channel_id if settings else None
        await report_problem(self.db, self.clock, message.guild_id or 0, problem.code, channel)
        return RETRY_BROKEN_CHANNEL


class _ClearsProblem(_EscalationHandler):
    """A post in the alert channel shows the channel works: a problem noted with it is
    cleared, in the unit of work that marks the message sent (`RecordsSent`)."""

    async def record_sent(self, session: AsyncSession, message: QueuedMessage, sent: Sent) -> None:
        await repo.clear_problem(session, message.guild_id or 0, now=self.clock.now())

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        async with self.db.session() as session:
            await self.record_sent(session, message, sent)


class AlertHandler(_ClearsProblem):
    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(db, clock)
        # What each alert in flight shows, so that a change made while it was on its way is
        # caught when it is recorded (kept only between prepare and send).
        self._shown: dict[int, dict[str, Any]] = {}

    async def prepare(self, message: QueuedMessage) -> Prepared:
        request, config, moderators = await self._load(message)
        if request is None:
            return Skip("the request was erased before the alert went out")
        if request.alert_message_id:
            return Skip("the alert was already posted")
        # An earlier attempt may have reached Discord unrecorded (a crash or a timeout
        # mid-send): a retry looks for that copy first, so there is never a second alert.
        retried = message.attempts > 1
        if not request.status.active and not retried:
            return Skip("the request was closed before the alert went out")
        if not config.alert_channel_id:
            return await self._not_configured(message)
        delivery = alert_delivery(request, config, moderators)
        if not retried:
            if len(self._shown) > 1000:  # sends that failed and were never recorded
                self._shown.clear()
            self._shown[message.id] = delivery.embeds[0]
            return delivery
        # For a request closed meanwhile, only the copy found is used (and then updated).
        return dataclasses.replace(
            delivery,
            find_existing=alert_footer(request.request_id),
            post_if_missing=request.status.active,
        )

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        if problem.code == PROBLEM_NOT_POSTED:
            return None  # closed, and no earlier copy: nothing to do
        return await super().on_undeliverable(message, problem)

    async def record_sent(self, session: AsyncSession, message: QueuedMessage, sent: Sent) -> None:
        """Remember where the alert is, in the unit that marks it sent."""
        await record_alert(
            session,
            self.clock.now(),
            message.guild_id or 0,
            int(message.payload["request_id"]),
            sent.channel_id,
            sent.message_id,
            shown=self._shown.pop(message.id, None),
        )
        await super().record_sent(session, message, sent)


class RefreshHandler(NoFollowUp, _EscalationHandler):
    """Edits the alert to match the request (after a change the alert's buttons didn't make).
    If the alert is gone or unreachable there is nothing left to update."""

    max_attempts = None  # an alert must come to show the request as it is

    async def prepare(self, message: QueuedMessage) -> Prepared:
        request, _config, _role = await self._load(message)
        if request is None or not (request.alert_channel_id and request.alert_message_id):
            return Skip("no alert to update (it will be rendered fresh when posted)")
        return alert_refresh(request)

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        """An alert deleted by hand while its request waits is posted anew."""
        if problem.code == PROBLEM_UNKNOWN_TARGET:
            request, _config, _role = await self._load(message)
            if request is not None and request.alert_message_id is not None:
                await repost_alert(
                    self.db,
                    self.clock,
                    message.guild_id or 0,
                    request.request_id,
                    request.alert_message_id,
                )
        return None


def still_waiting(request: RequestInfo | None, message: QueuedMessage) -> Skip | None:
    """Why a ladder step no longer applies, or None if its request is still waiting."""
    if request is None or request.status is not Status.OPEN:
        return Skip("the request is no longer waiting")
    if request.generation != message.payload.get("generation"):
        return Skip("the request was handed off; a newer ladder is running")
    return None


class StepHandler(_ClearsProblem):
    def __init__(self, db: Database, clock: Clock, step: LadderStep) -> None:
        super().__init__(db, clock)
        self.step = step

    async def prepare(self, message: QueuedMessage) -> Prepared:
        ready = await self._waiting(message)
        if not isinstance(ready, tuple):
            return ready
        request, config, moderators = ready
        if request.alert_message_id is None:
            # Re-pings answer the alert; after an outage they follow it instead of racing it.
            return NotYet("waiting for the alert to be posted", WAIT_FOR_ALERT)
        if self.step is LadderStep.REPING:
            handoff = bool(message.payload.get("handoff"))
            return reping_delivery(request, config, moderators, handoff=handoff)
        tier = config.second_tier_role_id or config.moderator_role_id
        return escalate_delivery(request, config, tier)


class AgainHandler(_ClearsProblem):
    """A reply to the alert: the member asked again (their new request took over the alert)
    or says it is more urgent now. It pings the team only when the flood limit allowed it."""

    async def prepare(self, message: QueuedMessage) -> Prepared:
        ready = await self._waiting(message)
        if not isinstance(ready, tuple):
            return ready
        request, config, moderators = ready
        if request.alert_message_id is None:
            return Skip("the alert is not posted yet: it will say this itself")
        ping = moderators if message.payload.get("ping") else None
        return again_delivery(
            request, config, ping, raised=message.payload.get("reason") == "raised"
        )


class ToClaimerHandler(NoFollowUp, _EscalationHandler):
    """A note for the moderator with the member (in their thread), e.g. the urgency rose."""

    max_attempts = 8

    async def prepare(self, message: QueuedMessage) -> Prepared:
        request, _config, _role = await self._load(message)
        claimer = message.payload.get("claimed_by")
        if request is None or request.status is not Status.CLAIMED:
            return Skip("nobody is with the member any more")
        if request.claimed_by != claimer:
            return Skip("another moderator is with the member now")
        return to_claimer_delivery(request, message.target_id)


class WithdrawnHandler(_EscalationHandler):
    """The alert of an erased request that may have reached Discord unrecorded: looked for
    among the channel's recent messages (nothing is posted if it isn't there), then edited
    to the neutral note."""

    max_attempts = 8

    async def prepare(self, message: QueuedMessage) -> Prepared:
        return withdrawn_delivery(message.target_id, int(message.payload["request_id"]))

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        await withdraw_alert(
            self.db,
            self.clock,
            message.guild_id or 0,
            int(message.payload["request_id"]),
            sent.channel_id,
            sent.message_id,
        )

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        return None


class MemberUpdateHandler(NoFollowUp, _EscalationHandler):
    """The member's DM at the second timer. Closed DMs are recorded, not retried."""

    max_attempts = 8

    async def prepare(self, message: QueuedMessage) -> Prepared:
        request, config, _role = await self._load(message)
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
        KIND_AGAIN: AgainHandler(db, clock),
        KIND_TO_CLAIMER: ToClaimerHandler(db, clock),
        KIND_WITHDRAWN: WithdrawnHandler(db, clock),
    }


async def report_problem(
    db: Database, clock: Clock, guild_id: int, code: str, channel_id: int | None
) -> None:
    """Show the problem in /about, and tell the server owner once per problem and channel.
    Both are written now, when the problem is noted (the text is stored), so in the server's
    language: whatever message or interaction came upon the problem."""
    now = clock.now()
    async with db.session() as session:
        with i18n.speaking(await languages.of_server(session, guild_id)):
            text = problem_text(code, channel_id)
            notice = owner_notice(text)
        await repo.update_settings(session, guild_id, now=now, alert_problem=text)
        await outbox.enqueue(
            session,
            key=f"talk:problem:{guild_id}:{channel_id or 0}:{code}",
            kind="plain",
            target_type="guild_owner",
            target_id=guild_id,
            payload=notice,
            due_at=now,
            now=now,
            guild_id=guild_id,
        )
