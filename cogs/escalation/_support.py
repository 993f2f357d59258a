"""/support: the moderators' tools (duty, queue). Checked in code: moderators only."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import _, ngettext, number
from bot.services.escalation import render, requests
from bot.services.escalation.config import set_duty
from bot.ui.feature import FeatureCog
from bot.ui.replies import send_ephemeral
from cogs.escalation._common import require_moderator

QUEUE_LIMIT = 20


class SupportGroup(app_commands.Group):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        await require_moderator(interaction)
        return True


class Support(FeatureCog):
    support = SupportGroup(
        name="support", description="Tools for the support team (moderators)", guild_only=True
    )
    duty = app_commands.Group(name="duty", description="Say whether you're on duty", parent=support)

    @duty.command(name="on", description="You're available: alerts will ping you")
    async def duty_on(self, interaction: discord.Interaction) -> None:
        await self._set_duty(interaction, on=True)

    @duty.command(name="off", description="You're stepping away: alerts stop pinging you")
    async def duty_off(self, interaction: discord.Interaction) -> None:
        await self._set_duty(interaction, on=False)

    async def _set_duty(self, interaction: discord.Interaction, *, on: bool) -> None:
        config = await require_moderator(interaction)
        # Changing a role is a Discord call of its own: acknowledge first, within the 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        assert isinstance(interaction.user, discord.Member)
        await set_duty(self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, on)
        if on:
            state = _("You're on duty: alerts will ping you.")
        else:
            state = _("You're off duty. Thank you for your time.")
        note = ""
        if config.on_duty_role_id is None:
            note = _("(No on-duty role is set up, so alerts ping the moderator role.)")
        else:
            role = discord.Object(config.on_duty_role_id)
            try:
                if on:
                    await interaction.user.add_roles(role, reason="Kinfolk: on duty")
                else:
                    await interaction.user.remove_roles(role, reason="Kinfolk: off duty")
            except discord.HTTPException:
                note = _(
                    "I couldn't change your on-duty role, though: I need Manage Roles, and "
                    "the role must be below mine."
                )
        await send_ephemeral(interaction, f"{state} {note}" if note else state)

    @support.command(name="queue", description="Who is waiting: most urgent first")
    async def queue(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        waiting = await requests.queue(self.bot.db, interaction.guild_id)
        if not waiting:
            await send_ephemeral(interaction, _("Nobody is waiting right now. 💛"))
            return
        lines = []
        for request in waiting[:QUEUE_LIMIT]:
            lines.append(
                _(
                    "{emoji} **{urgency}**: {member}, waiting since {time}. {status} (#{number})"
                ).format(
                    emoji=render.STYLE[request.urgency][0],
                    urgency=render.urgency_name(request.urgency),
                    member=f"<@{request.member_id}>",
                    time=render.ts(request.created_at),
                    status=render.status_line(request),
                    number=request.request_id,
                )
            )
        more = len(waiting) - QUEUE_LIMIT
        if more > 0:
            lines.append(
                ngettext("…and {count} more.", "…and {count} more.", more).format(
                    count=number(more)
                )
            )
        embed = discord.Embed(title=_("Support queue"), description="\n".join(lines))
        await send_ephemeral(interaction, embed=embed)
