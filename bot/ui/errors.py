"""Turning any failure inside an interaction into a short, kind, private answer.

The member sees a plain sentence and, for unexpected errors, an error id; the log gets
the full traceback under the same id, so a moderator's report can be matched to it.
"""

from __future__ import annotations

import logging
import uuid

import discord
from discord import app_commands

from bot.db.engine import DatabaseClosing, is_unreachable
from bot.domain.checkins import InvalidInput
from bot.domain.escalation import TransitionRefused
from bot.services.guild_config import InvalidSetting
from bot.ui import deadline
from bot.ui.replies import send_ephemeral

log = logging.getLogger("kinfolk.errors")

TRY_AGAIN = (
    "I couldn't reach my database just now, so nothing was changed. Please try again in a moment."
)
RESTARTING = "Kinfolk is restarting. Please try again in a minute; nothing was changed."


class Refusal(app_commands.CheckFailure):
    """A check that failed for a reason the member should read (e.g. missing permission)."""


def unwrap(error: BaseException) -> BaseException:
    """The exception a command raised, out of discord.py's CommandInvokeError wrapper."""
    return getattr(error, "original", None) or error


def explain(error: BaseException) -> tuple[str, str | None]:
    """The sentence for the member, and an error id when the failure was unexpected."""
    original = unwrap(error)
    if isinstance(error, Refusal) or isinstance(
        original, TransitionRefused | InvalidSetting | InvalidInput
    ):
        return str(original), None
    if isinstance(error, app_commands.TransformerError):
        return (
            "I couldn't use what you picked for one of the options: Discord hasn't told me "
            "about it yet, or I can't see it. Check that I can view it, then try again in a "
            "moment. Nothing was changed."
        ), None
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command only works inside a server.", None
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Let's take a breath: try again in {error.retry_after:.0f} seconds.", None
    if isinstance(original, DatabaseClosing):
        return RESTARTING, None
    if is_unreachable(original):
        return TRY_AGAIN, None
    error_id = uuid.uuid4().hex[:8]
    return (
        "Sorry, something went wrong on my side. It has been logged with error id "
        f"`{error_id}`; if it keeps happening, a moderator can look it up.",
        error_id,
    )


async def report(interaction: discord.Interaction, error: BaseException) -> None:
    message, error_id = explain(error)
    command = interaction.command.qualified_name if interaction.command else "component"
    if error_id is not None:
        log.error("error %s in %s", error_id, command, exc_info=unwrap(error))
    else:
        log.info("answered %s with: %s (%s)", command, message, type(error).__name__)
    try:
        await send_ephemeral(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell the member about error %s in %s", error_id, command)


class ReportsErrors:
    """Mixin for `DynamicItem`s: discord.py only logs their exceptions, leaving the member
    with "This interaction failed". Subclasses implement `run`; failures get `report`.
    `allowed` is asked first (e.g. `bot.ui.bound.BoundToServer`): False has answered."""

    async def run(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError

    async def allowed(self, interaction: discord.Interaction) -> bool:
        return True

    async def callback(self, interaction: discord.Interaction) -> None:
        deadline.guard(interaction)
        try:
            if await self.allowed(interaction):
                await self.run(interaction)
        except Exception as error:
            await report(interaction, error)


class KinfolkModal(discord.ui.Modal):
    """Base modal: a failure on submit gets the same kind answer as commands."""

    # Modal's own signature, which narrows BaseView's (discord.py's, not ours to change).
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report(interaction, error)
