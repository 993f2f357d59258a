"""The moderators' alert: its buttons (Claim, Resolve, Hand off, Show context) and its rendering.

Buttons are dynamic items keyed by request id, so they keep working after a restart. The
services check that the presser is a moderator of the request's own server (a request of
another server is refused like a missing one); a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot import i18n
from bot.domain.escalation import Status, TransitionRefused
from bot.i18n import N_, _
from bot.services.escalation import render, requests
from bot.services.escalation.config import get_config, server_language
from bot.services.escalation.info import EscalationConfig, RequestInfo
from bot.ui.replies import send_ephemeral
from bot.ui.views import view_of
from cogs.escalation._common import (
    NO_PINGS,
    REQUEST_ID,
    RequestButton,
    actor_of,
    embed,
    kinfolk,
    log,
    require_moderator,
    say_in_thread,
    thread_of,
)

if TYPE_CHECKING:
    from bot.client import KinfolkBot


def alert_view(request_id: int, status: Status) -> discord.ui.View:
    claim = ClaimButton(request_id)
    claim.item.disabled = status is not Status.OPEN
    resolve = ResolveButton(request_id)
    resolve.item.disabled = not status.active
    hand_off = HandOffButton(request_id)
    hand_off.item.disabled = status is not Status.CLAIMED
    return view_of(claim, resolve, hand_off, ShowContextButton(request_id))


def alert_edit(request: RequestInfo, language: str) -> dict[str, Any]:
    """Keyword arguments that bring an alert message up to date (edits never ping). The alert
    is a post in the alert channel: it stays in the server's `language`
    (`server_language`), not the language of the moderator whose button edits it."""
    with i18n.speaking(language):
        return {
            "content": render.alert_content(request, None),
            "embed": embed(render.alert_embed(request)),
            "view": alert_view(request.request_id, request.status),
            "allowed_mentions": NO_PINGS,
        }


EMBED_TEXT = 4096  # Discord's limit for an embed description

# A service function (db, clock, server id, request id, actor) -> the updated request.
Transition = Callable[..., Awaitable[RequestInfo]]


class _AlertButton(RequestButton, template=r"talk:alert:" + REQUEST_ID):
    async def moderate(
        self, interaction: discord.Interaction, transition: Transition
    ) -> RequestInfo | None:
        """Apply a moderator's transition and update the alert in the same response.
        Returns None (after telling the moderator why) when the transition is refused."""
        bot = kinfolk(interaction)
        if interaction.guild_id is None:
            await send_ephemeral(interaction, _(requests.NOT_HERE))
            return None
        try:
            request = await transition(
                bot.db, bot.clock, interaction.guild_id, self.request_id, actor_of(interaction)
            )
        except TransitionRefused as refusal:
            await send_ephemeral(interaction, str(refusal))
            return None
        bot.outbox.wake()
        language = await server_language(bot.db, interaction.guild_id)
        await interaction.response.edit_message(**alert_edit(request, language))
        return request


CLOSED_MEANWHILE = N_(
    "The member closed this request just as you claimed it (they said they're OK now), so "
    "there's nothing more to do. Thank you for being there."
)


class ClaimButton(_AlertButton, template=r"talk:claim:" + REQUEST_ID):
    """Claim is complete or it did not happen: Discord is answered first (if that fails,
    nothing has changed), and a claim that neither opened the thread nor told the moderator
    is given back, with its ladder, to the next moderator."""

    LABEL, STYLE, ACTION = N_("Claim"), discord.ButtonStyle.success, "claim"

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        guild_id, actor = interaction.guild_id, actor_of(interaction)
        if guild_id is None:
            await send_ephemeral(interaction, _(requests.NOT_HERE))
            return
        # A first look, so a member who isn't a moderator gets a private answer at once; the
        # service decides, against the request's own server.
        await require_moderator(interaction)
        await interaction.response.defer()
        try:
            request = await requests.claim(bot.db, bot.clock, guild_id, self.request_id, actor)
        except TransitionRefused as refusal:
            await send_ephemeral(interaction, str(refusal))
            return
        bot.outbox.wake()
        told = False
        try:
            language = await server_language(bot.db, guild_id)
            await interaction.edit_original_response(**alert_edit(request, language))
            config = await get_config(bot.db, guild_id)
            thread, problem = await open_thread(interaction, request, config, language)
            # With the member and the moderator in a thread, the claim is complete.
            told = thread is not None
            latest = await requests.get_request(bot.db, request.request_id, guild_id=guild_id)
            if not latest.status.active:
                await interaction.edit_original_response(**alert_edit(latest, language))
                await send_ephemeral(interaction, _(CLOSED_MEANWHILE))
                told = True
                return
            if thread is None:
                await send_ephemeral(
                    interaction,
                    _(
                        "You've claimed it, but I couldn't open a private thread: {problem} "
                        "Please reach out to {member} directly."
                    ).format(problem=problem, member=f"<@{request.member_id}>"),
                )
                told = True
                return
            await interaction.edit_original_response(**alert_edit(latest, language))
            await send_ephemeral(
                interaction,
                _("You've claimed it. The private thread: {thread}").format(thread=thread.mention),
            )
            told = True
        finally:
            if not told:
                await _give_back(interaction, request)


class ResolveButton(_AlertButton, template=r"talk:resolve:" + REQUEST_ID):
    LABEL, STYLE, ACTION = N_("Resolve"), discord.ButtonStyle.primary, "resolve"

    async def run(self, interaction: discord.Interaction) -> None:
        request = await self.moderate(interaction, requests.resolve)
        if request is None:
            return
        moderator = f"<@{interaction.user.id}>"
        await say_in_thread(
            kinfolk(interaction),
            request.guild_id,
            request.thread_id,
            lambda: _(
                "{moderator} has closed this conversation. Thank you both. "
                "Whenever you need to talk again, **/talk** is there."
            ).format(moderator=moderator),
            close=True,
        )


class HandOffButton(_AlertButton, template=r"talk:handoff:" + REQUEST_ID):
    LABEL, STYLE, ACTION = N_("Hand off"), discord.ButtonStyle.secondary, "handoff"

    async def run(self, interaction: discord.Interaction) -> None:
        request = await self.moderate(interaction, requests.hand_off)
        if request is None:
            return
        bot = kinfolk(interaction)
        bot.outbox.wake()
        moderator = f"<@{interaction.user.id}>"
        await say_in_thread(
            bot,
            request.guild_id,
            request.thread_id,
            lambda: _(
                "{moderator} has handed this conversation on; another moderator "
                "will join you here soon."
            ).format(moderator=moderator),
        )
        await send_ephemeral(interaction, _("Handed off. I've asked the team for someone new."))


class ShowContextButton(_AlertButton, template=r"talk:show:" + REQUEST_ID):
    LABEL, STYLE, ACTION = N_("Show context"), discord.ButtonStyle.secondary, "show"

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        if interaction.guild_id is None:
            await send_ephemeral(interaction, _(requests.NOT_HERE))
            return
        try:
            _request, context = await requests.read_context(
                bot.db, bot.clock, interaction.guild_id, self.request_id, actor_of(interaction)
            )
        except TransitionRefused as refusal:
            await send_ephemeral(interaction, str(refusal))
            return
        if not context:
            await send_ephemeral(interaction, _("The member didn't add any words to this request."))
            return
        shown = discord.Embed(title=_("In the member's words"), description=context[:EMBED_TEXT])
        shown.set_footer(
            text=_("Only you can see this. Please keep it between you and the member.")
        )
        await send_ephemeral(interaction, embed=shown)


async def _give_back(interaction: discord.Interaction, request: RequestInfo) -> None:
    """Undo a claim that could not be completed; never hides the error that stopped it."""
    bot = kinfolk(interaction)
    assert request.claimed_at is not None
    try:
        undone = await requests.undo_claim(
            bot.db,
            bot.clock,
            request.guild_id,
            request.request_id,
            interaction.user.id,
            request.claimed_at,
        )
    except Exception:
        log.exception("could not give back claim of request %s", request.request_id)
        return
    if undone:
        log.info("claim of request %s given back: it could not be completed", request.request_id)
        bot.outbox.wake()


async def open_thread(
    interaction: discord.Interaction,
    request: RequestInfo,
    config: EscalationConfig,
    language: str,
) -> tuple[discord.Thread | None, str]:
    """Open (or rejoin) the private thread for a claimed request: the member and the moderator.
    What is posted in the thread (and its name) is in the server's `language`; the problem
    returned, for the moderator's eyes only, is in theirs."""
    bot = kinfolk(interaction)
    moderator = interaction.user.id
    try:
        if request.thread_id:
            thread = await _existing_thread(bot, request.thread_id)
            if thread is not None:
                # Both, every time: adding is harmless when they are in, and the member may
                # not be (adding them failed when the thread was opened).
                for user in (request.member_id, moderator):
                    await thread.add_user(discord.Object(user))
                with i18n.speaking(language):
                    here = _("{moderator} is here now.").format(moderator=f"<@{moderator}>")
                await thread.send(
                    here,
                    allowed_mentions=discord.AllowedMentions(users=[discord.Object(moderator)]),
                )
                return thread, ""
        support = bot.get_channel(config.support_channel_id or 0)
        if not isinstance(support, discord.TextChannel):
            return None, _("the support channel is missing.")
        with i18n.speaking(language):
            name = _("support-{number}").format(number=request.request_id)
        thread = await support.create_thread(
            name=name,
            type=discord.ChannelType.private_thread,
            invitable=False,
            auto_archive_duration=10080,
        )
        current = await requests.record_thread(
            bot.db, bot.clock, request.guild_id, request.request_id, thread.id, moderator
        )
        if not current.status.active:  # the member said they're OK while we were opening it
            await thread.edit(archived=True, locked=True)
            return None, _("the member closed the request meanwhile.")
        for user in (request.member_id, moderator):
            await thread.add_user(discord.Object(user))
        context = await requests.context_for_thread(bot.db, request.guild_id, request.request_id)
        with i18n.speaking(language):
            intro = _(
                "Hi {member}, {moderator} is here for you. This thread is "
                "private: only the two of you (and the moderators who look after these threads) "
                "can see it. Take your time."
            ).format(member=f"<@{request.member_id}>", moderator=f"<@{moderator}>")
            embeds = (
                [discord.Embed(title=_("What you shared"), description=context[:EMBED_TEXT])]
                if context
                else []
            )
        await thread.send(
            intro,
            embeds=embeds,
            allowed_mentions=discord.AllowedMentions(
                users=[discord.Object(request.member_id), discord.Object(moderator)]
            ),
        )
    except discord.Forbidden:
        return (
            None,
            _("I'm missing the Create Private Threads or Send Messages in Threads permission."),
        )
    except discord.HTTPException as error:
        return None, _("Discord answered {status}.").format(status=error.status)
    return thread, ""


async def _existing_thread(bot: KinfolkBot, thread_id: int) -> discord.Thread | None:
    thread = await thread_of(bot, thread_id)
    if thread is not None and thread.archived:
        await thread.edit(archived=False)
    return thread
