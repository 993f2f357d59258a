"""What `/about` reports about a server: which features are set up there.

Each feature adds a `FeatureStatus` provider to `FEATURE_STATUS`; the foundation reports the
server's basic settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.db.engine import Database
from bot.services.checkins.prompt import get_config as checkin_config
from bot.services.escalation.config import get_config as escalation_config
from bot.services.guild_config import get_config


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


FEATURE_STATUS: list[StatusProvider] = [_server_settings, _escalation, _checkins]


async def feature_statuses(db: Database, guild_id: int) -> list[FeatureStatus]:
    return [await provider(db, guild_id) for provider in FEATURE_STATUS]
