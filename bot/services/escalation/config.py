"""Escalation settings (/setup escalation, /setup resources) and the duty roster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import audit
from bot.db.repositories import escalation as repo
from bot.domain import crisis_lines
from bot.domain.escalation import timer_problem
from bot.domain.resources import MAX_SERVER_TEXT, ResourceMode, resources_for
from bot.i18n import _, ngettext
from bot.services import languages
from bot.services.escalation.info import EscalationConfig, config_from
from bot.services.guild_config import InvalidSetting


@dataclass(frozen=True)
class Resources:
    emergency: str
    lines: list[str]


async def get_config(db: Database, guild_id: int) -> EscalationConfig:
    async with db.session() as session:
        return config_from(guild_id, await repo.get_settings(session, guild_id))


async def configure(
    db: Database,
    clock: Clock,
    guild_id: int,
    actor_id: int,
    *,
    alert_channel_id: int,
    moderator_role_id: int,
    support_channel_id: int,
    on_duty_role_id: int | None = None,
    second_tier_role_id: int | None = None,
    first_minutes: int | None = None,
    second_minutes: int | None = None,
    crisis_first_minutes: int | None = None,
    crisis_second_minutes: int | None = None,
) -> EscalationConfig:
    """Set up escalation. Timers left out keep their current (or default) values."""
    async with db.session() as session:
        current = config_from(guild_id, await repo.get_settings(session, guild_id)).ladder
        minutes = {
            "first_minutes": first_minutes or _minutes(current.normal.first),
            "second_minutes": second_minutes or _minutes(current.normal.second),
            "crisis_first_minutes": crisis_first_minutes or _minutes(current.crisis.first),
            "crisis_second_minutes": crisis_second_minutes or _minutes(current.crisis.second),
        }
        for prefix in ("", "crisis_"):
            problem = timer_problem(
                minutes[f"{prefix}first_minutes"], minutes[f"{prefix}second_minutes"]
            )
            if problem and prefix:
                raise InvalidSetting(_("Crisis timers: {problem}").format(problem=problem))
            if problem:
                raise InvalidSetting(problem)
        values = {
            "alert_channel_id": alert_channel_id,
            "moderator_role_id": moderator_role_id,
            "support_channel_id": support_channel_id,
            "on_duty_role_id": on_duty_role_id,
            "second_tier_role_id": second_tier_role_id,
            "alert_problem": None,
            **minutes,
        }
        row = await repo.update_settings(session, guild_id, now=clock.now(), **values)
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="settings.escalation",
            now=clock.now(),
            detail={k: v for k, v in values.items() if k != "alert_problem"},
        )
        return config_from(guild_id, row)


KEEP_REGION = "keep"  # set_resources: leave the server's region as it is


async def set_resources(
    db: Database,
    clock: Clock,
    guild_id: int,
    actor_id: int,
    mode: ResourceMode,
    text: str | None,
    region: str | None = KEEP_REGION,
) -> EscalationConfig:
    """The server's own lines and how they mix with ours; and, unless `region` is
    KEEP_REGION, the country whose national lines come first (None: by member's language)."""
    if region not in (None, KEEP_REGION) and region not in crisis_lines.countries():
        raise InvalidSetting(
            _("I don't have crisis lines for that country yet. Please pick one from the list.")
        )
    text = (text or "").strip() or None
    if text is not None and len(text) > MAX_SERVER_TEXT:
        raise InvalidSetting(
            ngettext(
                "Please keep the resources under {count} character.",
                "Please keep the resources under {count} characters.",
                MAX_SERVER_TEXT,
            ).format(count=MAX_SERVER_TEXT)
        )
    if mode is not ResourceMode.DEFAULT and text is None:
        raise InvalidSetting(_("Add at least one line of resources, or choose the default list."))
    async with db.session() as session:
        row = await repo.update_settings(
            session,
            guild_id,
            now=clock.now(),
            resources_mode=mode.value,
            resources_text=text if mode is not ResourceMode.DEFAULT else None,
            **({} if region == KEEP_REGION else {"resources_region": region}),
        )
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="settings.resources",
            now=clock.now(),
            detail={
                "mode": mode.value,
                "lines": len((text or "").splitlines()),
                **({} if region == KEEP_REGION else {"region": region}),
            },
        )
        return config_from(guild_id, row)


async def server_language(db: Database, guild_id: int | None) -> str:
    """The language of a server's channel posts (`bot.services.languages.of_server`): what an
    alert edited by a moderator's button, or a note in a private thread, is written in, so
    it reads the same for everyone whoever pressed the button."""
    async with db.lookup() as session:
        return await languages.of_server(session, guild_id)


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def member_resources(config: EscalationConfig, locale: str | None) -> Resources:
    emergency, lines = resources_for(
        locale, config.resources_text, config.resources_mode, config.resources_region
    )
    return Resources(emergency, lines)


async def set_duty(db: Database, clock: Clock, guild_id: int, moderator_id: int, on: bool) -> bool:
    """Put a moderator on or off duty; returns whether anything changed."""
    async with db.session() as session:
        if on:
            changed = await repo.set_on_duty(session, guild_id, moderator_id, now=clock.now())
        else:
            changed = await repo.set_off_duty(session, guild_id, moderator_id)
        if changed:
            await audit.append(
                session,
                guild_id=guild_id,
                actor_id=moderator_id,
                action="duty.on" if on else "duty.off",
                now=clock.now(),
            )
        return changed
