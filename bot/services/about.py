"""What `/about` reports about a server: which features are set up there.

Each feature adds a `FeatureStatus` provider to `FEATURE_STATUS`; the foundation reports the
server's basic settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot import i18n
from bot.db.engine import Database
from bot.db.repositories import buddies as buddy_repo
from bot.domain.circles import Kind
from bot.i18n import N_, _, ngettext, number
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
    escalation = await escalation_config(db, guild_id)
    name = _("Server settings")
    language = i18n.BY_CODE[config.post_language].name
    if config.language is None:
        language = _("{language} (the server's Discord language)").format(language=language)
    if escalation.resources_region:
        region = _("crisis lines of {country} first").format(
            country=i18n.territory_name(escalation.resources_region)
        )
    else:
        region = _("crisis lines by each member's Discord language")
    details = [_("posts in {language}").format(language=language), region]
    if config.customised:
        timezone = _("timezone {timezone}").format(timezone=config.timezone)
        return FeatureStatus(name, True, ", ".join([timezone, *details]))
    return FeatureStatus(name, False, ", ".join([_("defaults (timezone UTC)"), *details]))


async def _escalation(db: Database, guild_id: int) -> FeatureStatus:
    config = await escalation_config(db, guild_id)
    name = _("I need to talk")
    if config.alert_problem:
        return FeatureStatus(name, False, f"⚠️ {config.alert_problem}")
    if not config.configured:
        return FeatureStatus(name, False, _("not set up: run `/setup escalation`"))
    parts = [
        _("alerts in {channel} for {role}").format(
            channel=f"<#{config.alert_channel_id}>", role=f"<@&{config.moderator_role_id}>"
        )
    ]
    if config.on_duty_role_id:
        parts.append(_("on duty {role}").format(role=f"<@&{config.on_duty_role_id}>"))
    if config.second_tier_role_id:
        parts.append(_("second tier {role}").format(role=f"<@&{config.second_tier_role_id}>"))
    return FeatureStatus(name, True, ", ".join(parts))


async def _checkins(db: Database, guild_id: int) -> FeatureStatus:
    config = await checkin_config(db, guild_id)
    name = _("Check-ins")
    if config.problem:
        return FeatureStatus(name, False, f"⚠️ {config.problem}")
    if config.channel_id is None:
        return FeatureStatus(
            name, False, _("/checkin works; no channel for sharing: run `/setup checkins`")
        )
    parts = [_("shared moods in {channel}").format(channel=f"<#{config.channel_id}>")]
    if config.prompt_time:
        parts.append(
            _("daily prompt at {time} {timezone}").format(
                time=config.prompt_time, timezone=config.timezone
            )
        )
    return FeatureStatus(name, True, ", ".join(parts))


async def _buddies(db: Database, guild_id: int) -> FeatureStatus:
    async with db.session() as session:
        settings = await buddy_repo.get_settings(session, guild_id)
    name = _("Buddies")
    if settings is None or settings.channel_id is None:
        return FeatureStatus(name, False, _("not set up: run `/setup buddies`"))
    return FeatureStatus(
        name,
        True,
        ngettext(
            "threads under {channel}, rounds of {count} day",
            "threads under {channel}, rounds of {count} days",
            settings.round_days,
        ).format(channel=f"<#{settings.channel_id}>", count=number(settings.round_days)),
    )


async def _reachout(db: Database, guild_id: int) -> FeatureStatus:
    config = await reachout_config(db, guild_id)
    name = _("Reach-out")
    if not config.enabled:
        return FeatureStatus(name, False, _("off: `/setup reachout enabled:True` turns it on"))
    parts = [
        ngettext(
            "on, after {count} quiet day", "on, after {count} quiet days", config.threshold_days
        ).format(count=number(config.threshold_days))
    ]
    if config.digest_channel_id:
        parts.append(
            _("weekly digest in {channel}").format(channel=f"<#{config.digest_channel_id}>")
        )
    return FeatureStatus(name, True, ", ".join(parts))


# A suggested channel for each kind of support, as /setup show lists them.
_KIND_CHANNELS = {
    Kind.EMOTIONAL: N_("emotional {channel}"),
    Kind.PRACTICAL: N_("practical {channel}"),
    Kind.INFORMATIONAL: N_("informational {channel}"),
    Kind.COMPANIONSHIP: N_("companionship {channel}"),
}


async def _circles(db: Database, guild_id: int) -> FeatureStatus:
    config = await circle_config(db, guild_id)
    name = _("Support circles")
    configured = bool(config.channels or config.milestone_channel_id or config.allow_anonymous)
    channels = ", ".join(
        _(_KIND_CHANNELS[kind]).format(channel=f"<#{config.channels[kind.value]}>")
        for kind in Kind
        if kind.value in config.channels
    )
    parts = [
        _("suggested channels: {channels}").format(channels=channels)
        if channels
        else _("no suggested channels"),
        _("anonymous notes allowed")
        if config.allow_anonymous
        else _("notes carry the sender's name"),
        _("milestones in {channel}").format(channel=f"<#{config.milestone_channel_id}>")
        if config.milestone_channel_id
        else _("no milestones channel"),
    ]
    detail = "; ".join(parts)
    if not configured:
        detail = _("/circle and notes work; {details}: run `/setup circles`").format(details=detail)
    return FeatureStatus(name, configured, detail)


async def _privacy(db: Database, guild_id: int) -> FeatureStatus:
    config = await privacy_config(db, guild_id)
    customised = (config.retention_days, config.leave_grace_days) != (
        DEFAULT_RETENTION_DAYS,
        DEFAULT_GRACE_DAYS,
    )
    kept = ngettext(
        "notes and what members wrote when asking to talk kept {count} day",
        "notes and what members wrote when asking to talk kept {count} days",
        config.retention_days,
    ).format(count=number(config.retention_days))
    erased = ngettext(
        "members who leave are erased after {count} day",
        "members who leave are erased after {count} days",
        config.leave_grace_days,
    ).format(count=number(config.leave_grace_days))
    detail = f"{kept}; {erased}"
    if not customised:
        detail = _("{details} (the defaults: `/setup privacy` changes them)").format(details=detail)
    return FeatureStatus(_("Privacy"), True, detail)


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
