"""One way to answer an interaction privately, whether or not it was answered already."""

from __future__ import annotations

from typing import Any

import discord

NO_PINGS = discord.AllowedMentions.none()


async def send_ephemeral(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    file: discord.File | None = None,
) -> None:
    """Reply only the member sees, through `response` or `followup` as appropriate.

    Mentions never ping: whatever text a member typed and we echo back stays inert.
    """
    kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": NO_PINGS}
    if content is not None:
        kwargs["content"] = content
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if file is not None:
        kwargs["file"] = file
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


async def finish_deferred(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    file: discord.File | None = None,
) -> None:
    """Fill in the "thinking…" answer of a deferred interaction (it stays ephemeral if the
    deferral was)."""
    kwargs: dict[str, Any] = {"content": content, "allowed_mentions": NO_PINGS}
    kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if file is not None:
        kwargs["attachments"] = [file]
    await interaction.edit_original_response(**kwargs)
