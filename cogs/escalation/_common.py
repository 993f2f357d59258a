"""Helpers shared by the member and moderator sides of "I need to talk"."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from bot import i18n
from bot.domain.escalation import MODERATORS_ONLY, Actor, is_moderator
from bot.i18n import _
from bot.services.escalation import render
from bot.services.escalation.config import Resources, get_config, server_language
from bot.services.escalation.info import EscalationConfig
from bot.ui.context import kinfolk
from bot.ui.custom_ids import ID
from bot.ui.errors import Refusal, ReportsErrors
from bot.ui.replies import NO_PINGS

if TYPE_CHECKING:
    from bot.client import KinfolkBot

REQUEST_ID = ID

log = logging.getLogger("kinfolk.talk")


def actor_of(interaction: discord.Interaction) -> Actor:
    """The presser, with their roles and Manage Server in the server they pressed in."""
    roles = frozenset(role.id for role in getattr(interaction.user, "roles", []))
    return Actor(interaction.user.id, roles, interaction.permissions.manage_guild)


def embed(data: dict[str, Any]) -> discord.Embed:
    return discord.Embed.from_dict(data)


def resources_embed(resources: Resources, *, urgent: bool = False) -> discord.Embed:
    return embed(render.resources_embed(resources, urgent=urgent))


async def require_moderator(interaction: discord.Interaction) -> EscalationConfig:
    """The server's escalation settings, if the clicking member is a moderator; else refuse.

    The settings are kept on the interaction, so a group check and its command read them once.
    """
    cached = interaction.extras.get("escalation_config")
    if isinstance(cached, EscalationConfig):
        return cached
    assert interaction.guild_id is not None
    config = await get_config(kinfolk(interaction).db, interaction.guild_id)
    roles = [role.id for role in getattr(interaction.user, "roles", [])]
    if not is_moderator(roles, interaction.permissions.manage_guild, config.moderator_roles):
        raise Refusal(_(MODERATORS_ONLY))
    interaction.extras["escalation_config"] = config
    return config


async def thread_of(bot: KinfolkBot, thread_id: int) -> discord.Thread | None:
    channel = bot.get_channel(thread_id)
    if channel is None:
        try:
            channel = await bot.fetch_channel(thread_id)
        except discord.HTTPException:
            return None
    return channel if isinstance(channel, discord.Thread) else None


async def say_in_thread(
    bot: KinfolkBot,
    guild_id: int,
    thread_id: int | None,
    write: Callable[[], str],
    *,
    close: bool = False,
) -> None:
    """Post a note in a request's private thread, and optionally archive and lock it. The
    note (`write()`) is a post in the server, read by the member and the moderator: it is in
    the server's language, whoever pressed the button."""
    if thread_id is None:
        return
    thread = await thread_of(bot, thread_id)
    if thread is None:
        return
    with i18n.speaking(await server_language(bot.db, guild_id)):
        content = write()
    try:
        await thread.send(content, allowed_mentions=NO_PINGS)
        if close:
            await thread.edit(archived=True, locked=True)
    except discord.HTTPException as error:
        log.warning("could not update support thread %s: %s", thread_id, error)


class RequestButton(
    ReportsErrors,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"talk:(?P<action>[a-z]+):" + REQUEST_ID,
):
    """A button about one request, keyed by its id so it keeps working after a restart.

    Subclasses give their own `template` (talk:<ACTION>:<id>), LABEL (marked with `N_`:
    translated when the button is built), STYLE and `run`.
    """

    LABEL = ""
    STYLE = discord.ButtonStyle.secondary
    ACTION = ""

    def __init__(self, request_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_(self.LABEL), style=self.STYLE, custom_id=f"talk:{self.ACTION}:{request_id}"
            )
        )
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> RequestButton:
        return cls(int(match["id"]))
