"""The moderators' alert: its buttons (Claim, Resolve, Hand off, Show context) and its rendering.

Buttons are dynamic items keyed by request id, so they keep working after a restart. The
services check that the presser is a moderator of the request's own server (a request of
another server is refused like a missing one); a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.escalation import Status, TransitionRefused
from bot.services.escalation import render, requests
from bot.services.escalation.config import get_config
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


def alert_edit(request: RequestInfo) -> dict[str, Any]:
    """Keyword arguments that bring an alert message up to date (edits never ping)."""
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
            await send_ephemeral(interaction, requests.NOT_HERE)
            return None
        try:
            request = await transition(
                bot.db, bot.clock, interaction.guild_id, self.request_id, actor_of(interaction)
            )
        except TransitionRefused as refusal:
            await send_ephemeral(interaction, str(refusal))
            return None
        bot.outbox.wake()
        await interaction.response.edit_message(**alert_edit(request))
        return request


CLOSED_MEANWHILE = (
    "The member closed this request just as you claimed it (they said they're OK now), so "
    "there's nothing more to do. Thank you for being there."
)


class ClaimButton(_AlertButton, template=r"talk:claim:" + REQUEST_ID):
    """Claim is complete or it did not happen: Discord is answered first (if that fails,
    nothing has changed), and a claim that neither opened the thread nor told the moderator
    is given back, with its ladder, to the next moderator."""

    LABEL, STYLE, ACTION = "Claim", discord.ButtonStyle.success, "claim"

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        guild_id, actor = interaction.guild_id, actor_of(interaction)
        if guild_id is None:
            await send_ephemeral(interaction, requests.NOT_HERE)
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
            await interaction.edit_original_response(**alert_edit(request))
            config = await get_config(bot.db, guild_id)
            thread, problem = await open_thread(interaction, request, config)
            # With the member and the moderator in a thread, the claim is complete.
            told = thread is not None
            latest = await requests.get_request(bot.db, request.request_id, guild_id=guild_id)
            if not latest.status.active:
                await interaction.edit_original_response(**alert_edit(latest))
                await send_ephemeral(interaction, CLOSED_MEANWHILE)
                told = True
                return
            if thread is None:
                await send_ephemeral(
                    interaction,
                    f"You've claimed it, but I couldn't open a private thread: {problem} "
                    f"Please reach out to <@{request.member_id}> directly.",
                )
                told = True
                return
            await interaction.edit_original_response(**alert_edit(latest))
            await send_ephemeral(
                interaction, f"You've claimed it. The private thread: {thread.mention}"
            )
            told = True
        finally:
            if not told:
                await _give_back(interaction, request)


class ResolveButton(_AlertButton, template=r"talk:resolve:" + REQUEST_ID):
    LABEL, STYLE, ACTION = "Resolve", discord.ButtonStyle.primary, "resolve"

    async def run(self, interaction: discord.Interaction) -> None:
        request = await self.moderate(interaction, requests.resolve)
        if request is None:
            return
        await say_in_thread(
            kinfolk(interaction),
            request.thread_id,
            f"<@{interaction.user.id}> has closed this conversation. Thank you both. "
            "Whenever you need to talk again, **/talk** is there.",
            close=True,
        )


class HandOffButton(_AlertButton, template=r"talk:handoff:" + REQUEST_ID):
    LABEL, STYLE, ACTION = "Hand off", discord.ButtonStyle.secondary, "handoff"

    async def run(self, interaction: discord.Interaction) -> None:
        request = await self.moderate(interaction, requests.hand_off)
        if request is None:
            return
        bot = kinfolk(interaction)
        bot.outbox.wake()
        await say_in_thread(
            bot,
            request.thread_id,
            f"<@{interaction.user.id}> has handed this conversation on; another moderator "
            "will join you here soon.",
        )
        await send_ephemeral(interaction, "Handed off. I've asked the team for someone new.")


class ShowContextButton(_AlertButton, template=r"talk:show:" + REQUEST_ID):
    LABEL, STYLE, ACTION = "Show context", discord.ButtonStyle.secondary, "show"

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        if interaction.guild_id is None:
            await send_ephemeral(interaction, requests.NOT_HERE)
            return
        try:
            _, context = await requests.read_context(
                bot.db, bot.clock, interaction.guild_id, self.request_id, actor_of(interaction)
            )
        except TransitionRefused as refusal:
            await send_ephemeral(interaction, str(refusal))
            return
        if not context:
            await send_ephemeral(interaction, "The member didn't add any words to this request.")
            return
        shown = discord.Embed(title="In the member's words", description=context[:EMBED_TEXT])
        shown.set_footer(text="Only you can see this. Please keep it between you and the member.")
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
    interaction: discord.Interaction, request: RequestInfo, config: EscalationConfig
) -> tuple[discord.Thread | None, str]:
    """Open (or rejoin) the private thread for a claimed request: the member and the moderator."""
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
                await thread.send(
                    f"<@{moderator}> is here now.",
                    allowed_mentions=discord.AllowedMentions(users=[discord.Object(moderator)]),
                )
                return thread, ""
        support = bot.get_channel(config.support_channel_id or 0)
        if not isinstance(support, discord.TextChannel):
            return None, "the support channel is missing."
        thread = await support.create_thread(
            name=f"support-{request.request_id}",
            type=discord.ChannelType.private_thread,
            invitable=False,
            auto_archive_duration=10080,
        )
        current = await requests.record_thread(
            bot.db, bot.clock, request.guild_id, request.request_id, thread.id, moderator
        )
        if not current.status.active:  # the member said they're OK while we were opening it
            await thread.edit(archived=True, locked=True)
            return None, "the member closed the request meanwhile."
        for user in (request.member_id, moderator):
            await thread.add_user(discord.Object(user))
        context = await requests.context_for_thread(bot.db, request.guild_id, request.request_id)
        intro = (
            f"Hi <@{request.member_id}>, <@{moderator}> is here for you. This thread is "
            "private: only the two of you (and the moderators who look after these threads) "
            "can see it. Take your time."
        )
        embeds = (
            [discord.Embed(title="What you shared", description=context[:EMBED_TEXT])]
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
            "I'm missing the Create Private Threads or Send Messages in Threads permission.",
        )
    except discord.HTTPException as error:
        return None, f"Discord answered {error.status}."
    return thread, ""


async def _existing_thread(bot: KinfolkBot, thread_id: int) -> discord.Thread | None:
    thread = await thread_of(bot, thread_id)
    if thread is not None and thread.archived:
        await thread.edit(archived=False)
    return thread
