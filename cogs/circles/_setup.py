"""/setup circles: channels to suggest for each kind of support, anonymous notes, and the
milestone channel (Manage Server)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.domain.circles import Kind
from bot.i18n import _
from bot.services.circles import settings
from bot.ui.feature import FeatureCog, setup_command
from bot.ui.permissions import missing
from bot.ui.replies import send_ephemeral


def describe(config: settings.CircleConfig) -> str:
    lines = [_("**Support circles**")]
    for kind in Kind:
        channel = config.channels.get(kind.value)
        if channel:
            line = _("{emoji} {kind}: {channel}").format(
                emoji=kind.emoji, kind=kind.label, channel=f"<#{channel}>"
            )
        else:
            line = _("{emoji} {kind}: no channel suggested").format(
                emoji=kind.emoji, kind=kind.label
            )
        lines.append(line)
    lines.append(
        _("Anonymous notes: allowed")
        if config.allow_anonymous
        else _("Anonymous notes: not allowed")
    )
    if config.milestone_channel_id:
        lines.append(
            _("Milestones: celebrated in {channel} for members who opt in").format(
                channel=f"<#{config.milestone_channel_id}>"
            )
        )
    else:
        lines.append(_("Milestones: off (no channel)"))
    return "\n".join(lines)


class CircleSetup(FeatureCog):
    @setup_command("circles", "Channels for each kind of support, anonymous notes, milestones")
    @app_commands.describe(
        emotional="Channel to suggest for emotional support (someone who listens)",
        practical="Channel to suggest for practical help",
        informational="Channel to suggest for advice from people who have been there",
        companionship="Channel to suggest for company and shared time",
        allow_anonymous="Whether thinking-of-you notes may be sent without a name",
        milestone_channel="Where milestones of members who opt in are celebrated",
        milestones_off="Stop celebrating milestones",
    )
    async def circles(
        self,
        interaction: discord.Interaction,
        emotional: discord.TextChannel | None = None,
        practical: discord.TextChannel | None = None,
        informational: discord.TextChannel | None = None,
        companionship: discord.TextChannel | None = None,
        allow_anonymous: bool | None = None,
        milestone_channel: discord.TextChannel | None = None,
        milestones_off: bool = False,
    ) -> None:
        assert interaction.guild is not None
        picked = {
            Kind.EMOTIONAL: emotional,
            Kind.PRACTICAL: practical,
            Kind.INFORMATIONAL: informational,
            Kind.COMPANIONSHIP: companionship,
        }
        channels = {kind: channel.id for kind, channel in picked.items() if channel is not None}
        extra: dict[str, object] = {}
        if milestone_channel is not None:
            extra["milestone_channel_id"] = milestone_channel.id
        elif milestones_off:
            extra["milestone_channel_id"] = None
        config = await settings.configure(
            self.bot.db,
            self.bot.clock,
            interaction.guild.id,
            actor_id=interaction.user.id,
            channels=channels or None,  # type: ignore[arg-type]
            allow_anonymous=allow_anonymous,
            **extra,
        )
        text = describe(config)
        if milestone_channel is not None and (
            lacking := missing(
                milestone_channel, interaction.guild.me, ("view_channel", "send_messages")
            )
        ):
            text += "\n" + _("⚠️ In {channel} I need: {permissions}.").format(
                channel=milestone_channel.mention, permissions=", ".join(lacking)
            )
        await send_ephemeral(interaction, text)
