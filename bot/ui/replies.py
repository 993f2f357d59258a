"""One way to answer an interaction privately, whether or not it was answered already."""

from __future__ import annotations

from typing import Any

import discord

NO_PINGS = discord.AllowedMentions.none()


# Set in `interaction.extras` by a button on a private message that the answer should
# replace (e.g. /talk's feeling picker), rather than leave clickable above a new message.
REPLACE_MESSAGE = "kinfolk_replace_message"


async def send_ephemeral(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    embeds: list[discord.Embed] | None = None,
    view: discord.ui.View | None = None,
    file: discord.File | None = None,
) -> None:
    """Reply only the member sees, through `response` or `followup` as appropriate (or, as
    the first answer to a press on a message marked REPLACE_MESSAGE, in place of it).

    Mentions never ping: whatever text a member typed and we echo back stays inert.
    """
    all_embeds = [embed] if embed is not None else list(embeds or [])
    if not interaction.response.is_done() and interaction.extras.get(REPLACE_MESSAGE):
        await interaction.response.edit_message(
            content=content,
            embeds=all_embeds,
            view=view,
            attachments=[file] if file is not None else [],
            allowed_mentions=NO_PINGS,
        )
        return
    kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": NO_PINGS}
    if content is not None:
        kwargs["content"] = content
    if all_embeds:
        kwargs["embeds"] = all_embeds
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
