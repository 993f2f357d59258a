"""/support: the moderators' tools (duty, queue). Checked in code: moderators only."""

from __future__ import annotations

import discord
from discord import app_commands

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
        state = "on duty: alerts will ping you" if on else "off duty. Thank you for your time"
        note = ""
        if config.on_duty_role_id is None:
            note = " (No on-duty role is set up, so alerts ping the moderator role.)"
        else:
            role = discord.Object(config.on_duty_role_id)
            try:
                if on:
                    await interaction.user.add_roles(role, reason="Kinfolk: on duty")
                else:
                    await interaction.user.remove_roles(role, reason="Kinfolk: off duty")
            except discord.HTTPException:
                note = (
                    " I couldn't change your on-duty role, though: I need Manage Roles, and "
                    "the role must be below mine."
                )
        await send_ephemeral(interaction, f"You're {state}.{note}")

    @support.command(name="queue", description="Who is waiting: most urgent first")
    async def queue(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        waiting = await requests.queue(self.bot.db, interaction.guild_id)
        if not waiting:
            await send_ephemeral(interaction, "Nobody is waiting right now. 💛")
            return
        lines = []
        for request in waiting[:QUEUE_LIMIT]:
            emoji, _, label = render.STYLE[request.urgency]
            lines.append(
                f"{emoji} **{label}**: <@{request.member_id}>, waiting since "
                f"{render.ts(request.created_at)}. {render.status_line(request)} "
                f"(#{request.request_id})"
            )
        more = len(waiting) - QUEUE_LIMIT
        if more > 0:
            lines.append(f"…and {more} more.")
        embed = discord.Embed(title="Support queue", description="\n".join(lines))
        await send_ephemeral(interaction, embed=embed)
