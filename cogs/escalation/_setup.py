"""/setup escalation and /setup resources (Manage Server, enforced by the /setup group)."""

from __future__ import annotations

from datetime import timedelta

import discord
from discord import app_commands

from bot.domain.resources import MAX_SERVER_TEXT, ResourceMode
from bot.services.escalation.config import configure, get_config, member_resources, set_resources
from bot.services.escalation.info import EscalationConfig
from bot.services.guild_config import InvalidSetting
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
    summary = discord.Embed(title="'I need to talk' is set up", colour=discord.Colour.green())
    summary.add_field(name="Alerts", value=alert_channel.mention)
    summary.add_field(name="Private threads under", value=support_channel.mention)
    summary.add_field(name="Moderators", value=moderator_role.mention)
    summary.add_field(name="On duty", value=on_duty_role.mention if on_duty_role else "—")
    summary.add_field(
        name="Second tier", value=second_tier_role.mention if second_tier_role else "—"
    )
    summary.add_field(
        name="Timers",
        value=(
            f"re-ping after {minutes(normal.first)} min, second tier after "
            f"{minutes(normal.second)} min; in crisis {minutes(crisis.first)} and "
            f"{minutes(crisis.second)} min"
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
                "Please pick a specific role rather than @everyone, so alerts reach the "
                "people who can help. Nothing was changed.",
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
            await send_ephemeral(interaction, f"{error} Nothing was changed.")
            return
        summary = set_up_summary(
            config, alert_channel, support_channel, moderator_role, on_duty_role, second_tier_role
        )
        warnings = self._warnings(interaction.guild, alert_channel, support_channel, on_duty_role)
        if warnings:
            summary.colour = discord.Colour.orange()
            summary.add_field(name="⚠️ Please fix", value="\n".join(warnings), inline=False)
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
            warnings.append(f"In {alert_channel.mention} I need: {', '.join(lacking)}.")
        if lacking := missing(support_channel, me, SUPPORT_NEEDS):
            warnings.append(f"In {support_channel.mention} I need: {', '.join(lacking)}.")
        if on_duty_role is not None and not on_duty_role.is_assignable():
            warnings.append(
                f"I can't give out {on_duty_role.mention}: I need Manage Roles, and the role "
                "must be below my own role."
            )
        return warnings

    @setup_command("resources", "The crisis resources members see (yours, ours, or both)")
    @app_commands.describe(
        mode="default: our list; extend: your lines first, then ours; replace: only yours"
    )
    async def resources(self, interaction: discord.Interaction, mode: ResourceMode) -> None:
        assert interaction.guild_id is not None
        if mode is ResourceMode.DEFAULT:
            config = await set_resources(
                self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, mode, None
            )
            await send_ephemeral(
                interaction,
                "Members will see the built-in resources. Here is the English version:",
                embed=resources_embed(member_resources(config, "en-US")),
            )
            return
        current = await get_config(self.bot.db, interaction.guild_id)
        await interaction.response.send_modal(ResourcesModal(mode, current.resources_text))


class ResourcesModal(KinfolkModal, title="Your server's crisis resources"):
    lines: discord.ui.TextInput[ResourcesModal] = discord.ui.TextInput(
        label="One resource per line",
        custom_id="resources-lines",
        style=discord.TextStyle.paragraph,
        max_length=MAX_SERVER_TEXT,
        placeholder="e.g. Our counsellor: counselling@example.org (weekdays 9–5)",
    )

    def __init__(self, mode: ResourceMode, current: str | None) -> None:
        super().__init__()
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
            )
        except InvalidSetting as error:
            await send_ephemeral(interaction, f"{error} Nothing was changed.")
            return
        await send_ephemeral(
            interaction,
            "Saved. This is what a member sees (the emergency line and the international "
            "directory are always included):",
            embed=resources_embed(member_resources(config, str(interaction.locale.value))),
        )
