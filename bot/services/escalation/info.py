"""Plain values the escalation services hand to the discord adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.db.models import EscalationSettings, SupportRequest
from bot.db.repositories.escalation import RequestRow, SettingsRow
from bot.domain.escalation import Ladder, QueueEntry, Status, Timers, Urgency
from bot.domain.resources import ResourceMode


@dataclass(frozen=True)
class RequestInfo(QueueEntry):
    guild_id: int
    member_id: int
    status: Status
    locale: str | None
    has_context: bool
    generation: int
    claimed_by: int | None
    claimed_at: datetime | None
    closed_by: int | None
    closed_at: datetime | None
    alert_channel_id: int | None
    alert_message_id: int | None
    thread_id: int | None
    repeat: int = 0  # asks folded into this alert before this one


def request_info(row: SupportRequest | RequestRow) -> RequestInfo:
    return RequestInfo(
        request_id=row.id,
        urgency=Urgency(row.urgency),
        created_at=row.created_at,
        guild_id=row.guild_id,
        member_id=row.member_id,
        status=Status(row.status),
        locale=row.locale,
        has_context=bool(row.context),
        generation=row.generation,
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        closed_by=row.closed_by,
        closed_at=row.closed_at,
        alert_channel_id=row.alert_channel_id,
        alert_message_id=row.alert_message_id,
        thread_id=row.thread_id,
        repeat=row.repeat or 0,
    )


@dataclass(frozen=True)
class EscalationConfig:
    guild_id: int
    alert_channel_id: int | None = None
    support_channel_id: int | None = None
    moderator_role_id: int | None = None
    on_duty_role_id: int | None = None
    second_tier_role_id: int | None = None
    ladder: Ladder = field(default_factory=Ladder)
    resources_text: str | None = None
    resources_mode: ResourceMode = ResourceMode.DEFAULT
    alert_problem: str | None = None
    # The country whose crisis lines come first (ISO code), else the member's language's.
    resources_region: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.alert_channel_id and self.moderator_role_id and self.support_channel_id)

    @property
    def moderator_roles(self) -> tuple[int | None, ...]:
        return (self.moderator_role_id, self.on_duty_role_id, self.second_tier_role_id)


def config_from(guild_id: int, row: EscalationSettings | SettingsRow | None) -> EscalationConfig:
    if row is None:
        return EscalationConfig(guild_id=guild_id)
    return EscalationConfig(
        guild_id=guild_id,
        alert_channel_id=row.alert_channel_id,
        support_channel_id=row.support_channel_id,
        moderator_role_id=row.moderator_role_id,
        on_duty_role_id=row.on_duty_role_id,
        second_tier_role_id=row.second_tier_role_id,
        ladder=Ladder(
            normal=Timers(
                timedelta(minutes=row.first_minutes), timedelta(minutes=row.second_minutes)
            ),
            crisis=Timers(
                timedelta(minutes=row.crisis_first_minutes),
                timedelta(minutes=row.crisis_second_minutes),
            ),
        ),
        resources_text=row.resources_text,
        resources_mode=ResourceMode(row.resources_mode),
        alert_problem=row.alert_problem,
        resources_region=row.resources_region,
    )
