"""/setup escalation and /setup resources (Manage Server, enforced by the /setup group)."""

from __future__ import annotations

from datetime import timedelta

import discord
from discord import app_commands

from bot.domain.crisis_lines import countries
from bot.domain.resources import MAX_SERVER_TEXT, ResourceMode
from bot.i18n import N_, _
from bot.services.escalation.config import (
    KEEP_REGION,
    configure,
    get_config,
    member_resources,
    set_resources,
)
from bot.services.escalation.info import EscalationConfig
from bot.services.guild_config import InvalidSetting
from bot.ui.autocomplete import BY_LANGUAGE, region_autocomplete
from bot.ui.errors import KinfolkModal
from bot.ui.feature import FeatureCog, setup_command
from bot.ui.permissions import missing
from bot.ui.replies import send_ephemeral
from cogs.escalation._common import kinfolk, resources_embed

Minutes = app_commands.Range[int, 1, 1440]
ALERT_NEEDS = ("view_channel", "send_messages", "embed_links")
SUPPORT_NEEDS = (
    "view_channel",
    "create_private_threads",
    "send_messages_in_threads",
    "manage_threads",
)


def minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def set_up_summary(
    config: EscalationConfig,
    alert_channel: discord.TextChannel,
    support_channel: discord.TextChannel,
    moderator_role: discord.Role,
    on_duty_role: discord.Role | None,
    second_tier_role: discord.Role | None,
) -> discord.Embed:
    """What /setup escalation shows once saved: where alerts go, who gets them, the timers."""
    normal, crisis = config.ladder.normal, config.ladder.crisis
    summary = discord.Embed(title=_("'I need to talk' is set up"), colour=discord.Colour.green())
    summary.add_field(name=_("Alerts"), value=alert_channel.mention)
    summary.add_field(name=_("Private threads under"), value=support_channel.mention)
    summary.add_field(name=_("Moderators"), value=moderator_role.mention)
    summary.add_field(name=_("On duty"), value=on_duty_role.mention if on_duty_role else "—")
    summary.add_field(
        name=_("Second tier"), value=second_tier_role.mention if second_tier_role else "—"
    )
    summary.add_field(
        name=_("Timers"),
        # "min" is an abbreviation: the same for one minute or many.
        value=_(
            "re-ping after {first} min, second tier after {second} min; in crisis "
            "{crisis_first} and {crisis_second} min"
        ).format(
            first=minutes(normal.first),
            second=minutes(normal.second),
            crisis_first=minutes(crisis.first),
            crisis_second=minutes(crisis.second),
        ),
        inline=False,
    )
    return summary


class EscalationSetup(FeatureCog):
    @setup_command("escalation", "Where 'I need to talk' alerts go, who gets them, and the timers")
    @app_commands.describe(
        alert_channel="Where moderators are alerted (keep it private to moderators)",
        moderator_role="The role alerts ping, and who may claim requests",
        support_channel="Private threads with members are opened under this channel",
        on_duty_role="Optional: pinged instead of the moderator role while anyone is on duty",
        second_tier_role="Optional: pinged when nobody has claimed by the second timer",
        first_minutes="Re-ping after this many minutes unclaimed (default 5)",
        second_minutes="Ask the second tier after this many minutes (default 15)",
        crisis_first_minutes="Re-ping for 'I'm in crisis' (default 2)",
        crisis_second_minutes="Second tier for 'I'm in crisis' (default 5)",
    )
    async def escalation(
        self,
        interaction: discord.Interaction,
        alert_channel: discord.TextChannel,
        moderator_role: discord.Role,
        support_channel: discord.TextChannel,
        on_duty_role: discord.Role | None = None,
        second_tier_role: discord.Role | None = None,
        first_minutes: Minutes | None = None,
        second_minutes: Minutes | None = None,
        crisis_first_minutes: Minutes | None = None,
        crisis_second_minutes: Minutes | None = None,
    ) -> None:
        assert interaction.guild is not None
        roles = [r for r in (moderator_role, on_duty_role, second_tier_role) if r is not None]
        if any(role.is_default() for role in roles):
            await send_ephemeral(
                interaction,
                _(
                    "Please pick a specific role rather than @everyone, so alerts reach the "
                    "people who can help. Nothing was changed."
                ),
            )
            return
        try:
            config = await configure(
                self.bot.db,
                self.bot.clock,
                interaction.guild.id,
                interaction.user.id,
                alert_channel_id=alert_channel.id,
                moderator_role_id=moderator_role.id,
                support_channel_id=support_channel.id,
                on_duty_role_id=on_duty_role.id if on_duty_role else None,
                second_tier_role_id=second_tier_role.id if second_tier_role else None,
                first_minutes=first_minutes,
                second_minutes=second_minutes,
                crisis_first_minutes=crisis_first_minutes,
                crisis_second_minutes=crisis_second_minutes,
            )
        except InvalidSetting as error:
            await send_ephemeral(
                interaction, _("{problem} Nothing was changed.").format(problem=error)
            )
            return
        summary = set_up_summary(
            config, alert_channel, support_channel, moderator_role, on_duty_role, second_tier_role
        )
        warnings = self._warnings(interaction.guild, alert_channel, support_channel, on_duty_role)
        if warnings:
            summary.colour = discord.Colour.orange()
            summary.add_field(name=_("⚠️ Please fix"), value="\n".join(warnings), inline=False)
        await send_ephemeral(interaction, embed=summary)
        self.bot.outbox.wake()  # requests waiting for this set-up can be alerted now

    def _warnings(
        self,
        guild: discord.Guild,
        alert_channel: discord.TextChannel,
        support_channel: discord.TextChannel,
        on_duty_role: discord.Role | None,
    ) -> list[str]:
        me = guild.me
        warnings = []
        if lacking := missing(alert_channel, me, ALERT_NEEDS):
            warnings.append(
                _("In {channel} I need: {permissions}.").format(
                    channel=alert_channel.mention, permissions=", ".join(lacking)
                )
            )
        if lacking := missing(support_channel, me, SUPPORT_NEEDS):
            warnings.append(
                _("In {channel} I need: {permissions}.").format(
                    channel=support_channel.mention, permissions=", ".join(lacking)
                )
            )
        if on_duty_role is not None and not on_duty_role.is_assignable():
            warnings.append(
                _(
                    "I can't give out {role}: I need Manage Roles, and the role "
                    "must be below my own role."
                ).format(role=on_duty_role.mention)
            )
        return warnings

    @setup_command("resources", "The crisis resources members see (yours, ours, or both)")
    @app_commands.describe(
        mode="default: our list; extend: your lines first, then ours; replace: only yours",
        region="The server's country: its crisis lines come first (else each member's language)",
    )
    @app_commands.autocomplete(region=region_autocomplete)
    async def resources(
        self, interaction: discord.Interaction, mode: ResourceMode, region: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        chosen = KEEP_REGION if region is None else None if region == BY_LANGUAGE else region
        if chosen not in (None, KEEP_REGION) and chosen.upper() not in countries():
            await send_ephemeral(
                interaction,
                _(
                    "I don't have crisis lines for “{region}” yet. Please pick a country from "
                    "the suggestions. Nothing was changed."
                ).format(region=region[:40] if region else ""),
            )
            return
        if chosen not in (None, KEEP_REGION):
            chosen = chosen.upper()
        if mode is ResourceMode.DEFAULT:
            config = await set_resources(
                self.bot.db,
                self.bot.clock,
                interaction.guild_id,
                interaction.user.id,
                mode,
                None,
                chosen,
            )
            await send_ephemeral(
                interaction,
                _(
                    "Members will see the built-in resources, in their own language. This is "
                    "what you would see:"
                ),
                embed=resources_embed(member_resources(config, str(interaction.locale.value))),
            )
            return
        current = await get_config(self.bot.db, interaction.guild_id)
        await interaction.response.send_modal(ResourcesModal(mode, current.resources_text, chosen))


class ResourcesModal(KinfolkModal):
    TITLE = N_("Your server's crisis resources")
    lines: discord.ui.TextInput[ResourcesModal] = discord.ui.TextInput(
        label="-",  # written in __init__, in the moderator's language
        custom_id="resources-lines",
        style=discord.TextStyle.paragraph,
        max_length=MAX_SERVER_TEXT,
    )

    def __init__(
        self, mode: ResourceMode, current: str | None, region: str | None = KEEP_REGION
    ) -> None:
        super().__init__(title=_(self.TITLE))
        self.region = region
        self.lines.label = _("One resource per line")
        self.lines.placeholder = _("e.g. Our counsellor: counselling@example.org (weekdays 9–5)")
        self.mode = mode
        self.lines.default = current

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        bot = kinfolk(interaction)
        try:
            config = await set_resources(
                bot.db,
                bot.clock,
                interaction.guild_id,
                interaction.user.id,
                self.mode,
                self.lines.value,
                self.region,
            )
        except InvalidSetting as error:
            await send_ephemeral(
                interaction, _("{problem} Nothing was changed.").format(problem=error)
            )
            return
        await send_ephemeral(
            interaction,
            _(
                "Saved. This is what a member sees (the emergency line and the international "
                "directory are always included):"
            ),
            embed=resources_embed(member_resources(config, str(interaction.locale.value))),
        )
