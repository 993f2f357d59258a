"""Sends outbox deliveries through discord.py, and turns Discord's answers into outcomes.

Nothing here decides *whether* to send: that was settled by the kind's handler. Mentions
ping exactly the roles and users the delivery lists, never @everyone, whatever the text says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import discord

from bot.i18n import _
from bot.jobs.delivery import (
    PROBLEM_DMS_CLOSED,
    PROBLEM_NO_ACCESS,
    PROBLEM_NO_PERMISSION,
    PROBLEM_NOT_POSTED,
    PROBLEM_UNKNOWN_TARGET,
    SERVER_PLACEHOLDER,
    Delivery,
    Outcome,
    Retry,
    Sent,
    Undeliverable,
)
from bot.jobs.pacing import Pacer

log = logging.getLogger(__name__)

ViewBuilder = Callable[[dict[str, Any]], discord.ui.View]
# Where an outbox message goes: a channel or DM by id, a member's DM, a private thread.
Postable = discord.PartialMessageable | discord.DMChannel | discord.Thread

MAX_CONTENT = 2000
EARLIER_COPIES_LOOKED_AT = 50
CANNOT_DM = 50007
MISSING_ACCESS = 50001
UNKNOWN_MEMBER = 10007


def mentions(delivery: Delivery) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False,
        users=[discord.Object(u) for u in delivery.ping_users] or False,
        roles=[discord.Object(r) for r in delivery.ping_roles] or False,
        replied_user=False,
    )


class DiscordSender:
    def __init__(self, client: discord.Client, pacer: Pacer | None = None) -> None:
        self.client = client
        self.views: dict[str, ViewBuilder] = {}
        self.pacer = pacer or Pacer()
        # Names of servers this process has no shard of, fetched once (SERVER_PLACEHOLDER).
        self._server_names: dict[int, str] = {}

    async def deliver(self, delivery: Delivery) -> Outcome:
        """Send (or edit) one message, and say how it went in the outbox's terms."""
        try:
            if delivery.remove_from_thread is not None or delivery.close_thread:
                return await self._change_thread(delivery)
            channel = await self._where(delivery)
            if isinstance(channel, Undeliverable):
                return channel
            kwargs = self._kwargs(delivery, channel.id, await self._content(delivery))
            await self.pacer.wait()
            return await self._post(channel, delivery, kwargs)
        except discord.Forbidden as error:
            if error.code == CANNOT_DM:
                return Undeliverable(PROBLEM_DMS_CLOSED, "the member's DMs are closed")
            if error.code == MISSING_ACCESS:
                return Undeliverable(PROBLEM_NO_ACCESS, error.text or "missing access")
            return Undeliverable(PROBLEM_NO_PERMISSION, error.text or "missing permissions")
        except discord.NotFound as error:
            return Undeliverable(PROBLEM_UNKNOWN_TARGET, error.text or "not found")
        except (TimeoutError, discord.DiscordServerError, aiohttp.ClientError) as error:
            return Retry(f"{type(error).__name__}: {error}")

    async def _where(self, delivery: Delivery) -> Postable | Undeliverable:
        """The channel, DM or private thread the message goes to."""
        channel = await self._channel(delivery)
        if channel is None:
            return Undeliverable(PROBLEM_UNKNOWN_TARGET, "no such server or channel")
        if delivery.thread_name:
            thread = await self._private_thread(delivery)
            if thread is None:
                return Undeliverable(PROBLEM_UNKNOWN_TARGET, "not a text channel")
            return thread
        if delivery.thread_members:  # a thread opened before: make sure they're in it
            await self._add_members(delivery.target_id, delivery.thread_members)
        return channel

    async def _content(self, delivery: Delivery) -> str | None:
        """The text, with the server's name in place and never longer than Discord takes."""
        content = delivery.content
        if content and delivery.server_name_of is not None and SERVER_PLACEHOLDER in content:
            name = await self._server_name(delivery.server_name_of)
            content = content.replace(SERVER_PLACEHOLDER, name)
        if content and len(content) > MAX_CONTENT:
            # Never let a long name make a message Discord refuses: it would never go.
            content = content[: MAX_CONTENT - 1] + "…"
        return content

    async def _post(self, channel: Postable, delivery: Delivery, kwargs: dict[str, Any]) -> Outcome:
        """Edit the message named, or post a new one unless an earlier copy is there."""
        if delivery.edit_message_id:
            kwargs.pop("reference", None)
            kwargs.setdefault("view", None)  # an edit without a view has no buttons
            partial = channel.get_partial_message(delivery.edit_message_id)
            message = await partial.edit(**kwargs)
            return Sent(channel_id=message.channel.id, message_id=message.id)
        earlier = await self._earlier_copy(channel, delivery)
        if earlier is not None:
            return Sent(channel_id=channel.id, message_id=earlier)
        if not delivery.post_if_missing:
            return Undeliverable(PROBLEM_NOT_POSTED, "no earlier copy was found")
        if delivery.nonce is not None:
            kwargs["nonce"] = delivery.nonce
        message = await channel.send(**kwargs)
        return Sent(channel_id=message.channel.id, message_id=message.id)

    async def _change_thread(self, delivery: Delivery) -> Outcome:
        """Take a member out of a thread and/or archive and lock it (see `Delivery`)."""
        thread_id = delivery.target_id
        # A thread Discord archived after a quiet week takes no changes until it is reopened.
        await self.pacer.wait()
        await self.client.http.edit_channel(thread_id, archived=False)
        if delivery.remove_from_thread is not None:
            await self.pacer.wait()
            try:
                await self.client.http.remove_user_from_thread(
                    thread_id, delivery.remove_from_thread
                )
            except discord.NotFound as error:
                if error.code != UNKNOWN_MEMBER:  # gone from the server: out of it already
                    raise
        if delivery.close_thread:
            await self.pacer.wait()
            await self.client.http.edit_channel(thread_id, archived=True, locked=True)
        return Sent(channel_id=thread_id, message_id=0)

    async def _earlier_copy(self, channel: Any, delivery: Delivery) -> int | None:
        """The id of a recent message of ours in `channel` whose first embed's footer is
        `delivery.find_existing` (see `Delivery`), or None."""
        if not delivery.find_existing:
            return None
        me = self.client.user.id if self.client.user else None
        await self.pacer.wait()
        try:
            async for message in channel.history(limit=EARLIER_COPIES_LOOKED_AT):
                if message.author.id != me or not message.embeds:
                    continue
                if message.embeds[0].footer.text == delivery.find_existing:
                    return int(message.id)
        except discord.Forbidden:  # no Read Message History: send as if none was found
            log.info("can't read history in %s to look for an earlier copy", channel.id)
        return None

    async def _channel(self, delivery: Delivery) -> Postable | None:
        if delivery.target_type == "channel":
            return self.client.get_partial_messageable(delivery.target_id)
        if delivery.target_type == "user":
            if delivery.dm_channel_id:
                return self.client.get_partial_messageable(
                    delivery.dm_channel_id, type=discord.ChannelType.private
                )
            return await self._dm(delivery.target_id)
        if delivery.target_type == "guild_owner":
            guild = await self._guild(delivery.target_id)
            if guild is None or guild.owner_id is None:
                return None
            return await self._dm(guild.owner_id)
        raise ValueError(f"unknown target type {delivery.target_type!r}")

    async def _guild(self, guild_id: int) -> discord.Guild | None:
        """The server from the cache, or from Discord when another process (another shard)
        holds it: any process may send any outbox message."""
        return self.client.get_guild(guild_id) or await self._fetch_guild(guild_id)

    async def _fetch_guild(self, guild_id: int) -> discord.Guild | None:
        await self.pacer.wait()
        try:
            return await self.client.fetch_guild(guild_id, with_counts=False)
        except (discord.NotFound, discord.Forbidden):
            return None

    async def _server_name(self, guild_id: int) -> str:
        cached = self.client.get_guild(guild_id)
        if cached is not None:
            return discord.utils.escape_markdown(cached.name)
        known = self._server_names.get(guild_id)
        if known is not None:
            return known
        guild = await self._fetch_guild(guild_id)
        if guild is None:
            return _("your server")
        name = discord.utils.escape_markdown(guild.name)
        if len(self._server_names) > 10_000:
            self._server_names.clear()
        self._server_names[guild_id] = name
        return name

    async def _dm(self, user_id: int) -> discord.DMChannel:
        # discord.py keeps recent DM channels; opening one is a request only when it doesn't.
        known = self.client._connection._get_private_channel_by_user(user_id)
        if isinstance(known, discord.DMChannel):
            return known
        await self.pacer.wait()
        return await self.client.create_dm(discord.Object(user_id))

    async def _private_thread(self, delivery: Delivery) -> discord.Thread | None:
        parent = self.client.get_channel(delivery.target_id)
        if parent is None:
            await self.pacer.wait()
            parent = await self.client.fetch_channel(delivery.target_id)
        if not isinstance(parent, discord.TextChannel):
            return None
        await self.pacer.wait()
        thread = await parent.create_thread(
            name=delivery.thread_name or "Kinfolk",
            type=discord.ChannelType.private_thread,
            invitable=False,
            auto_archive_duration=10080,
        )
        # Recorded before anything else can fail: a retry reuses it instead of opening another.
        if delivery.thread_opened is not None:
            await delivery.thread_opened(thread.id)
        await self._add_members(thread.id, delivery.thread_members)
        return thread

    async def _add_members(self, thread_id: int, members: tuple[int, ...]) -> None:
        for member in members:
            await self.pacer.wait()
            try:
                await self.client.http.add_user_to_thread(thread_id, member)
            except discord.NotFound:
                log.info("member %s is no longer in the server; not added to a thread", member)

    def _kwargs(self, delivery: Delivery, channel_id: int, content: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "content": content,
            "embeds": [discord.Embed.from_dict(e) for e in delivery.embeds],
            "allowed_mentions": mentions(delivery),
        }
        if delivery.view:
            kwargs["view"] = self.views[delivery.view](delivery.view_args)
        if delivery.reply_to:
            kwargs["reference"] = discord.MessageReference(
                message_id=delivery.reply_to, channel_id=channel_id, fail_if_not_exists=False
            )
        return kwargs
