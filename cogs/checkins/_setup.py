"""/setup checkins: the check-in channel and the daily community prompt (Manage Server)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import _
from bot.services.checkins import prompt
from bot.ui.feature import FeatureCog, setup_command
from bot.ui.permissions import missing
from bot.ui.replies import send_ephemeral

CHANNEL_NEEDS = ("view_channel", "send_messages")


class CheckinSetup(FeatureCog):
    @setup_command("checkins", "The check-in channel, and an optional daily prompt there")
    @app_commands.describe(
        channel="Where members may share their mood, and where the daily prompt goes",
        prompt_time="Post a daily check-in prompt at this time (server timezone), e.g. 10:00; "
        "leave out for no prompt",
    )
    async def checkins(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        prompt_time: str | None = None,
    ) -> None:
        assert interaction.guild is not None
        config = await prompt.configure(
            self.bot.db,
            self.bot.clock,
            interaction.guild.id,
            channel_id=channel.id,
            prompt_time=prompt_time,
            actor_id=interaction.user.id,
        )
        self.bot.outbox.wake()
        lines = [
            _("Done. Members can share their mood in {channel}.").format(channel=channel.mention)
        ]
        if config.prompt_time is None:
            lines.append(_("There's no daily prompt (give `prompt_time` to add one)."))
        else:
            lines.append(
                _(
                    "A check-in prompt will be posted there every day at **{time}** "
                    "{timezone} time (change the server's timezone with /setup timezone)."
                ).format(time=config.prompt_time, timezone=config.timezone)
            )
        if lacking := missing(channel, interaction.guild.me, CHANNEL_NEEDS):
            lines.append(
                _("⚠️ In {channel} I need: {permissions}.").format(
                    channel=channel.mention, permissions=", ".join(lacking)
                )
            )
        await send_ephemeral(interaction, "\n".join(lines))
