"""What `/about` reports about a server: which features are set up there.

Each feature adds a `FeatureStatus` provider to `FEATURE_STATUS`; the foundation reports the
server's basic settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.db.engine import Database
from bot.db.repositories import buddies as buddy_repo
from bot.domain.circles import Kind
from bot.domain.words import plural
from bot.services.checkins.prompt import get_config as checkin_config
from bot.services.circles.settings import get_config as circle_config
from bot.services.escalation.config import get_config as escalation_config
from bot.services.guild_config import get_config
from bot.services.privacy.retention import DEFAULT_GRACE_DAYS, DEFAULT_RETENTION_DAYS
from bot.services.privacy.retention import get_config as privacy_config
from bot.services.reachout.settings import get_config as reachout_config


@dataclass(frozen=True)
class FeatureStatus:
    name: str
    configured: bool
    detail: str


StatusProvider = Callable[[Database, int], Awaitable[FeatureStatus]]


async def _server_settings(db: Database, guild_id: int) -> FeatureStatus:
    config = await get_config(db, guild_id)
    if config.customised:
        return FeatureStatus("Server settings", True, f"timezone {config.timezone}")
    return FeatureStatus("Server settings", False, "defaults (timezone UTC)")


async def _escalation(db: Database, guild_id: int) -> FeatureStatus:
    config = await escalation_config(db, guild_id)
    name = "I need to talk"
    if config.alert_problem:
        return FeatureStatus(name, False, f"⚠️ {config.alert_problem}")
    if not config.configured:
        return FeatureStatus(name, False, "not set up: run `/setup escalation`")
    detail = f"alerts in <#{config.alert_channel_id}> for <@&{config.moderator_role_id}>"
    if config.on_duty_role_id:
        detail += f", on duty <@&{config.on_duty_role_id}>"
    if config.second_tier_role_id:
        detail += f", second tier <@&{config.second_tier_role_id}>"
    return FeatureStatus(name, True, detail)


async def _checkins(db: Database, guild_id: int) -> FeatureStatus:
    config = await checkin_config(db, guild_id)
    name = "Check-ins"
    if config.problem:
        return FeatureStatus(name, False, f"⚠️ {config.problem}")
    if config.channel_id is None:
        return FeatureStatus(
            name, False, "/checkin works; no channel for sharing: run `/setup checkins`"
        )
    detail = f"shared moods in <#{config.channel_id}>"
    if config.prompt_time:
        detail += f", daily prompt at {config.prompt_time} {config.timezone}"
    return FeatureStatus(name, True, detail)


async def _buddies(db: Database, guild_id: int) -> FeatureStatus:
    async with db.session() as session:
        settings = await buddy_repo.get_settings(session, guild_id)
    if settings is None or settings.channel_id is None:
        return FeatureStatus("Buddies", False, "not set up: run `/setup buddies`")
    return FeatureStatus(
        "Buddies",
        True,
        f"threads under <#{settings.channel_id}>, rounds of {settings.round_days} days",
    )


async def _reachout(db: Database, guild_id: int) -> FeatureStatus:
    config = await reachout_config(db, guild_id)
    if not config.enabled:
        return FeatureStatus("Reach-out", False, "off: `/setup reachout enabled:True` turns it on")
    detail = f"on, after {config.threshold_days} quiet days"
    if config.digest_channel_id:
        detail += f", weekly digest in <#{config.digest_channel_id}>"
    return FeatureStatus("Reach-out", True, detail)


async def _circles(db: Database, guild_id: int) -> FeatureStatus:
    config = await circle_config(db, guild_id)
    name = "Support circles"
    configured = bool(config.channels or config.milestone_channel_id or config.allow_anonymous)
    channels = ", ".join(
        f"{kind.label.lower()} <#{config.channels[kind.value]}>"
        for kind in Kind
        if kind.value in config.channels
    )
    parts = [
        f"suggested channels: {channels}" if channels else "no suggested channels",
        "anonymous notes allowed" if config.allow_anonymous else "notes carry the sender's name",
        f"milestones in <#{config.milestone_channel_id}>"
        if config.milestone_channel_id
        else "no milestones channel",
    ]
    detail = "; ".join(parts)
    if not configured:
        detail = "/circle and notes work; " + detail + ": run `/setup circles`"
    return FeatureStatus(name, configured, detail)


async def _privacy(db: Database, guild_id: int) -> FeatureStatus:
    config = await privacy_config(db, guild_id)
    customised = (config.retention_days, config.leave_grace_days) != (
        DEFAULT_RETENTION_DAYS,
        DEFAULT_GRACE_DAYS,
    )
    detail = (
        f"notes and what members wrote when asking to talk kept "
        f"{plural(config.retention_days, 'day')}; members who leave are erased after "
        f"{plural(config.leave_grace_days, 'day')}"
        + ("" if customised else " (the defaults: `/setup privacy` changes them)")
    )
    return FeatureStatus("Privacy", True, detail)


FEATURE_STATUS: list[StatusProvider] = [
    _server_settings,
    _escalation,
    _checkins,
    _buddies,
    _reachout,
    _circles,
    _privacy,
]


async def feature_statuses(db: Database, guild_id: int) -> list[FeatureStatus]:
    return [await provider(db, guild_id) for provider in FEATURE_STATUS]
