"""Turning any failure inside an interaction into a short, kind, private answer.

The member sees a plain sentence and, for unexpected errors, an error id; the log gets
the full traceback under the same id, so a moderator's report can be matched to it.
"""

from __future__ import annotations

import logging
import uuid
from typing import ClassVar

import discord
from discord import app_commands

from bot.db.engine import DatabaseClosing, is_unreachable
from bot.domain.checkins import InvalidInput
from bot.domain.escalation import TransitionRefused
from bot.i18n import N_, _, ngettext, number
from bot.services.guild_config import InvalidSetting
from bot.ui import deadline, language
from bot.ui.replies import send_ephemeral

log = logging.getLogger("kinfolk.errors")

TRY_AGAIN = N_(
    "I couldn't reach my database just now, so nothing was changed. Please try again in a moment."
)
RESTARTING = N_("Kinfolk is restarting. Please try again in a minute; nothing was changed.")


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
        return _(
            "I couldn't use what you picked for one of the options: Discord hasn't told me "
            "about it yet, or I can't see it. Check that I can view it, then try again in a "
            "moment. Nothing was changed."
        ), None
    if isinstance(error, app_commands.NoPrivateMessage):
        return _("That command only works inside a server."), None
    if isinstance(error, app_commands.CommandOnCooldown):
        seconds = round(error.retry_after)
        return ngettext(
            "Let's take a breath: try again in {count} second.",
            "Let's take a breath: try again in {count} seconds.",
            seconds,
        ).format(count=number(seconds)), None
    if isinstance(original, DatabaseClosing):
        return _(RESTARTING), None
    if is_unreachable(original):
        return _(TRY_AGAIN), None
    error_id = uuid.uuid4().hex[:8]
    return (
        _(
            "Sorry, something went wrong on my side. It has been logged with error id "
            "`{error_id}`; if it keeps happening, a moderator can look it up."
        ).format(error_id=error_id),
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
        language.enter(interaction)
        deadline.guard(interaction)
        try:
            if await self.allowed(interaction):
                await self.run(interaction)
        except Exception as error:
            await report(interaction, error)


class KinfolkModal(discord.ui.Modal):
    """Base modal: a failure on submit gets the same kind answer as commands. `TITLE` is its
    title in English (marked with `N_`), shown as `_(TITLE)` in the member's language when
    the form is built."""

    TITLE: ClassVar[str]

    # Modal's own signature, which narrows BaseView's (discord.py's, not ours to change).
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report(interaction, error)
