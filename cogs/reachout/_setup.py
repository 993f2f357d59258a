"""/setup reachout: whether and how Kinfolk reaches out to members who go quiet."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import N_, _, ngettext, number
from bot.services.reachout import settings
from bot.services.reachout.texts import DEFAULT_MESSAGE
from bot.ui.feature import FeatureCog, setup_command
from bot.ui.permissions import missing
from bot.ui.replies import send_ephemeral

# The choices' names (translated from this English by the command translator).
NOT_OPTED = {
    "nothing": "Nothing",
    "buddy": "Tell their buddy",
    "digest": "List them in the weekly digest",
}
BUDDY_NUDGE = {
    "off": "Don't involve buddies",
    "before": "Nudge their buddy a few days before the DM",
    "instead": "Nudge their buddy instead of the DM",
}
# How the summary says each choice: whole lines, translated where shown. (Lower case "dm",
# as these lines have always read, choice names lowered.)
NOT_OPTED_LINES = {
    "nothing": N_("Members who haven't opted in: nothing."),
    "buddy": N_("Members who haven't opted in: tell their buddy."),
    "digest": N_("Members who haven't opted in: list them in the weekly digest."),
}
BUDDY_NUDGE_LINES = {
    "off": N_("Buddies: don't involve buddies."),
    "before": N_("Buddies: nudge their buddy a few days before the dm."),
    "instead": N_("Buddies: nudge their buddy instead of the dm."),
}


def describe(config: settings.ReachoutConfig) -> str:
    """The server's reach-out settings, in the current language (the moderator's)."""
    if not config.enabled:
        return _("Reach-out is **off** in this server.")
    if config.channel_ids:
        activity = _(
            "Activity that counts: messages and reactions in {channels}, check-ins and "
            "Kinfolk commands."
        ).format(channels=" ".join(f"<#{c}>" for c in config.channel_ids))
    else:
        activity = _(
            "Activity that counts: messages and reactions in every channel, check-ins and "
            "Kinfolk commands."
        )
    if config.digest_channel_id:
        digest = _("Weekly digest: {channel}.").format(channel=f"<#{config.digest_channel_id}>")
    else:
        digest = _("Weekly digest: off.")
    wording = (
        _("The message: your own wording.")
        if config.message
        else _("The message: Kinfolk's default:")
    )
    lines = [
        ngettext(
            "Reach-out is **on**: a member quiet for **{count} day** may be "
            "reached out to (if they opted in to DMs).",
            "Reach-out is **on**: a member quiet for **{count} days** may be "
            "reached out to (if they opted in to DMs).",
            config.threshold_days,
        ).format(count=number(config.threshold_days)),
        activity,
        _(NOT_OPTED_LINES[config.not_opted]),
        _(BUDDY_NUDGE_LINES[config.buddy_nudge]),
        digest,
        wording + "\n" + quoted_preview(config.message or _(DEFAULT_MESSAGE)),
    ]
    return "\n".join(lines)


PREVIEW_CHARS = 600
PREVIEW_LINES = 10


def quoted_preview(message: str) -> str:
    """The message as a quote, shortened so the summary always fits in one Discord message
    (quoting adds two characters a line; a 1000-character message can have 500 lines)."""
    lines = message.splitlines() or [""]
    shortened = len(lines) > PREVIEW_LINES or len(message) > PREVIEW_CHARS
    text = "\n".join(lines[:PREVIEW_LINES])[:PREVIEW_CHARS]
    quoted = "> " + text.replace("\n", "\n> ")
    if shortened:
        quoted += "…\n" + _("(shortened here; members get the whole message)")
    return quoted


class ReachoutSetup(FeatureCog):
    @setup_command("reachout", "Reaching out kindly to members who go quiet")
    @app_commands.describe(
        enabled="Switch reach-out on or off",
        threshold_days="Days without activity before a member counts as quiet (default 14)",
        channels="Channels whose messages count, e.g. #general #support, or `all`",
        message="Your wording of the DM ({server} becomes the server's name), or `default`",
        not_opted="What happens for quiet members who haven't opted in to DMs",
        buddy_nudge="Whether an active buddy is told first, or instead",
        digest_channel="Post a weekly digest (counts) to this moderators' channel",
        digest_off="Stop the weekly digest",
    )
    @app_commands.choices(
        not_opted=[app_commands.Choice(name=v, value=k) for k, v in NOT_OPTED.items()],
        buddy_nudge=[app_commands.Choice(name=v, value=k) for k, v in BUDDY_NUDGE.items()],
    )
    async def reachout(
        self,
        interaction: discord.Interaction,
        enabled: bool | None = None,
        threshold_days: app_commands.Range[int, 3, 180] | None = None,
        channels: str | None = None,
        message: app_commands.Range[str, 1, 1000] | None = None,
        not_opted: app_commands.Choice[str] | None = None,
        buddy_nudge: app_commands.Choice[str] | None = None,
        digest_channel: discord.TextChannel | None = None,
        digest_off: bool = False,
    ) -> None:
        assert interaction.guild is not None
        changes: dict[str, object] = {}
        if digest_channel is not None:
            changes["digest_channel_id"] = digest_channel.id
        elif digest_off:
            changes["digest_channel_id"] = None
        config = await settings.configure(
            self.bot.db,
            self.bot.clock,
            interaction.guild.id,
            actor_id=interaction.user.id,
            enabled=enabled,
            threshold_days=threshold_days,
            channels=channels,
            known_channels={c.id for c in interaction.guild.channels},
            message=message,
            not_opted=not_opted.value if not_opted else None,
            buddy_nudge=buddy_nudge.value if buddy_nudge else None,
            **changes,
        )
        self.bot.participation.forget(interaction.guild.id)
        self.bot.outbox.wake()
        text = describe(config)
        if digest_channel is not None and (
            lacking := missing(
                digest_channel, interaction.guild.me, ("view_channel", "send_messages")
            )
        ):
            text += "\n" + _("⚠️ In {channel} I need: {permissions}.").format(
                channel=digest_channel.mention, permissions=", ".join(lacking)
            )
        await send_ephemeral(interaction, text)
