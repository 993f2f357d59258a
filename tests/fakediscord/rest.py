"""REST handlers for users, channels, messages, DMs, threads and guild members.

Each handler changes the world the way Discord would (including the permission checks
and the gateway events Discord emits as a side effect), so a test sees both what the bot
asked for and what the rest of Discord would have seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import permissions as perms
from . import world as w
from .payloads import guild_create_payload
from .rest_common import ApiError, body_of, files_of, ok, snowflake

if TYPE_CHECKING:
    from .messages import StoredMessage
    from .server import FakeDiscord


class RestHandlers:
    """Routes that need the bot token; registered under ``/api/v10`` by ``routes()``."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.world = fake.world

    def routes(self) -> list[web.RouteDef]:
        p = "/api/v10"
        ch, msg = p + "/channels/{channel_id}", p + "/channels/{channel_id}/messages/{message_id}"
        member = p + "/guilds/{guild_id}/members/{user_id}"
        return [
            web.get(p + "/users/@me", self.get_me),
            web.get(p + "/users/{user_id}", self.get_user),
            web.get(p + "/oauth2/applications/@me", self.get_application),
            web.get(p + "/gateway/bot", self.get_gateway_bot),
            web.get(p + "/gateway", self.get_gateway_bot),
            web.post(p + "/users/@me/channels", self.create_dm),
            web.get(ch, self.get_channel),
            web.patch(ch, self.edit_channel),
            web.delete(ch, self.delete_channel),
            web.get(ch + "/messages", self.list_messages),
            web.post(ch + "/messages", self.create_message),
            web.get(msg, self.get_message),
            web.patch(msg, self.edit_message),
            web.delete(msg, self.delete_message),
            web.post(ch + "/threads", self.create_thread),
            web.post(msg + "/threads", self.create_thread),
            web.get(ch + "/thread-members", self.list_thread_members),
            web.get(ch + "/thread-members/{user_id}", self.get_thread_member),
            web.put(ch + "/thread-members/{user_id}", self.add_thread_member),
            web.delete(ch + "/thread-members/{user_id}", self.remove_thread_member),
            web.get(p + "/guilds/{guild_id}", self.get_guild),
            web.get(p + "/guilds/{guild_id}/channels", self.guild_channels),
            web.get(p + "/guilds/{guild_id}/roles", self.guild_roles),
            web.get(member, self.get_member),
            web.put(member + "/roles/{role_id}", self.add_role),
            web.delete(member + "/roles/{role_id}", self.remove_role),
            web.get("/attachments/{channel_id}/{attachment_id}/{filename}", self.get_attachment),
        ]

    # ----- lookups --------------------------------------------------------------------
    def _channel(self, request: web.Request) -> w.Channel:
        channel = self.world.channels.get(snowflake(request, "channel_id"))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _guild(self, request: web.Request) -> w.Guild:
        guild = self.world.guilds.get(snowflake(request, "guild_id"))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    def _message(self, request: web.Request) -> StoredMessage:
        channel = self._channel(request)
        msg = self.fake.store.by_id.get(snowflake(request, "message_id"))
        if msg is None or msg.deleted or msg.channel_id != channel.id or msg.ephemeral:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def _require(self, channel: w.Channel, perms: int) -> None:
        have = self.world.permissions_in(channel.id, self.world.bot_user.id)
        if have & perms != perms:
            raise ApiError(403, 50013, "Missing Permissions")

    # ----- users, app, gateway --------------------------------------------------------
    async def get_me(self, request: web.Request) -> web.Response:
        bot = self.world.bot_user
        return ok(request, {**bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0})

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.users.get(snowflake(request, "user_id"))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return ok(request, user.payload())

    async def get_application(self, request: web.Request) -> web.Response:
        owner = self.world.app_owner
        return ok(
            request,
            {
                "id": str(self.world.application_id),
                "name": self.world.bot_user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": owner.payload(),
                "team": None,
                "bot": self.world.bot_user.payload(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
            },
        )

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        shards = self.fake.gateway.recommended_shards
        return ok(
            request, {"url": self.fake.gateway_url, "shards": shards, "session_start_limit": limit}
        )

    async def create_dm(self, request: web.Request) -> web.Response:
        user_id = int((body_of(request) or {}).get("recipient_id") or 0)
        if user_id not in self.world.users:
            raise ApiError(400, 50033, "Invalid Recipient(s)")
        return ok(request, self.world.dm_channel_for(user_id).payload(self.world))

    async def get_attachment(self, request: web.Request) -> web.StreamResponse:
        att_id = int(request.match_info["attachment_id"])
        for msg in self.fake.store.by_id.values():
            for att in msg.attachments:
                if att.id == att_id:
                    ctype = att.content_type or "application/octet-stream"
                    return web.Response(body=att.data, headers={"Content-Type": ctype})
        raise web.HTTPNotFound()

    # ----- channels & messages --------------------------------------------------------
    async def get_channel(self, request: web.Request) -> web.Response:
        return ok(request, self._channel(request).payload(self.world))

    async def edit_channel(self, request: web.Request) -> web.Response:
        channel, body = self._channel(request), body_of(request) or {}
        if channel.is_thread:
            is_owner = channel.owner_id == self.world.bot_user.id
            if not is_owner or "locked" in body:
                self._require(channel, perms.MANAGE_THREADS)
            for key in ("archived", "locked", "invitable", "auto_archive_duration", "name"):
                if key in body and body[key] is not None:
                    setattr(channel, key, body[key])
            await self.fake.gateway.dispatch("THREAD_UPDATE", channel.payload(self.world))
        else:
            self._require(channel, perms.MANAGE_CHANNELS)
            channel.name = body.get("name") or channel.name
            await self.fake.gateway.dispatch("CHANNEL_UPDATE", channel.payload(self.world))
        return ok(request, channel.payload(self.world))

    async def delete_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, perms.MANAGE_THREADS if channel.is_thread else perms.MANAGE_CHANNELS)
        del self.world.channels[channel.id]
        if channel.guild_id is not None:
            self.world.guilds[channel.guild_id].channel_ids.remove(channel.id)
        event = "THREAD_DELETE" if channel.is_thread else "CHANNEL_DELETE"
        await self.fake.gateway.dispatch(event, channel.payload(self.world))
        return ok(request, channel.payload(self.world))

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = int(request.query.get("limit", 50))
        msgs = sorted(self.fake.store.in_channel(channel.id, ephemeral=False), key=lambda m: -m.id)
        return ok(request, [self.fake.render(m) for m in msgs[:limit]])

    async def create_message(self, request: web.Request) -> web.Response:
        channel, body = self._channel(request), body_of(request) or {}
        if channel.type == w.DM:
            if self.world.users[channel.recipients[0]].dms_closed:
                raise ApiError(403, 50007, "Cannot send messages to this user")
        else:
            needed = perms.SEND_MESSAGES_IN_THREADS if channel.is_thread else perms.SEND_MESSAGES
            self._require(channel, perms.VIEW_CHANNEL | needed)
            if channel.is_thread and channel.archived and channel.locked:
                raise ApiError(400, 50083, "Thread is archived")
        if not any(body.get(k) for k in ("content", "embeds", "components", "sticker_ids")) and (
            not files_of(request)
        ):
            raise ApiError(400, 50006, "Cannot send an empty message")
        nonce, author = body.get("nonce"), self.world.bot_user.id
        if nonce is not None and body.get("enforce_nonce"):
            earlier = self.fake.store.by_nonce(channel.id, author, nonce)
            if earlier is not None:  # Discord answers with the message it already has
                self.fake.store.nonce_repeats.append(earlier.id)
                return ok(request, self.fake.render(earlier))
        msg = self.fake.store.create(channel.id, author)
        msg.apply(body, files_of(request), edit=False)
        if nonce is not None:
            self.fake.store.remember_nonce(msg, nonce)
        if channel.is_thread and channel.archived and not channel.locked:
            channel.archived = False  # sending to an archived, unlocked thread unarchives it
        await self.fake.gateway.dispatch("MESSAGE_CREATE", self.fake.render(msg))
        return ok(request, self.fake.render(msg))

    async def get_message(self, request: web.Request) -> web.Response:
        return ok(request, self.fake.render(self._message(request)))

    async def edit_message(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        if msg.author_id != self.world.bot_user.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        msg.apply(body_of(request) or {}, files_of(request), edit=True)
        await self.fake.gateway.dispatch("MESSAGE_UPDATE", self.fake.render(msg))
        return ok(request, self.fake.render(msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        if msg.author_id != self.world.bot_user.id:
            self._require(self._channel(request), perms.MANAGE_MESSAGES)
        msg.deleted = True
        data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
        if msg.guild_id:
            data["guild_id"] = str(msg.guild_id)
        await self.fake.gateway.dispatch("MESSAGE_DELETE", data)
        return ok(request)

    # ----- threads --------------------------------------------------------------------
    async def create_thread(self, request: web.Request) -> web.Response:
        parent, body = self._channel(request), body_of(request) or {}
        from_message = "message_id" in request.match_info
        kind = w.PUBLIC_THREAD if from_message else int(body.get("type") or w.PRIVATE_THREAD)
        private = kind == w.PRIVATE_THREAD
        needed = perms.CREATE_PRIVATE_THREADS if private else perms.CREATE_PUBLIC_THREADS
        self._require(parent, perms.VIEW_CHANNEL | needed)
        if parent.type != w.TEXT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        thread = self.world.add_thread(parent.id, body.get("name") or "thread")
        thread.type = kind
        thread.invitable = bool(body.get("invitable", True))
        thread.auto_archive_duration = int(body.get("auto_archive_duration") or 4320)
        await self.fake.gateway.dispatch(
            "THREAD_CREATE", {**thread.payload(self.world), "newly_created": True}
        )
        return ok(request, thread.payload(self.world))

    def _thread(self, request: web.Request) -> w.Channel:
        thread = self._channel(request)
        if not thread.is_thread:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        return thread

    def _user_id(self, request: web.Request) -> int:
        raw = request.match_info["user_id"]
        return self.world.bot_user.id if raw == "@me" else snowflake(request, "user_id")

    @staticmethod
    def _thread_member(thread: w.Channel, user_id: int) -> dict[str, Any]:
        return {
            "id": str(thread.id),
            "user_id": str(user_id),
            "join_timestamp": w.iso_now(),
            "flags": 0,
        }

    async def list_thread_members(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        return ok(request, [self._thread_member(thread, u) for u in sorted(thread.thread_members)])

    async def get_thread_member(self, request: web.Request) -> web.Response:
        thread, user_id = self._thread(request), self._user_id(request)
        if user_id not in thread.thread_members:
            raise ApiError(404, 10007, "Unknown Member")
        return ok(request, self._thread_member(thread, user_id))

    async def add_thread_member(self, request: web.Request) -> web.Response:
        thread, user_id = self._thread(request), self._user_id(request)
        if thread.archived:
            raise ApiError(400, 50083, "Thread is archived")
        if thread.guild_id is None or user_id not in self.world.guilds[thread.guild_id].members:
            raise ApiError(404, 10007, "Unknown Member")
        bot_id = self.world.bot_user.id
        if (
            thread.type == w.PRIVATE_THREAD
            and user_id != bot_id
            and bot_id not in thread.thread_members
        ):
            self._require(thread, perms.MANAGE_THREADS)
        thread.thread_members.add(user_id)
        await self._members_update(thread, added=[user_id])
        return ok(request)

    async def remove_thread_member(self, request: web.Request) -> web.Response:
        thread, user_id = self._thread(request), self._user_id(request)
        if thread.archived:  # as Discord: an archived thread must be reopened first
            raise ApiError(400, 50083, "Thread is archived")
        if user_id != self.world.bot_user.id and thread.owner_id != self.world.bot_user.id:
            self._require(thread, perms.MANAGE_THREADS)
        thread.thread_members.discard(user_id)
        await self._members_update(thread, removed=[user_id])
        return ok(request)

    async def _members_update(
        self,
        thread: w.Channel,
        added: list[int] = (),
        removed: list[int] = (),  # type: ignore[assignment]
    ) -> None:
        await self.fake.gateway.dispatch(
            "THREAD_MEMBERS_UPDATE",
            {
                "id": str(thread.id),
                "guild_id": str(thread.guild_id),
                "member_count": len(thread.thread_members),
                "added_members": [self._thread_member(thread, u) for u in added],
                "removed_member_ids": [str(u) for u in removed],
            },
        )

    # ----- guilds ---------------------------------------------------------------------
    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        data = guild_create_payload(self.world, guild.id, all_members=False)
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            data.pop(key)
        return ok(request, data)

    async def guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        chans = [c for c in self.world.guild_channels(guild.id) if not c.is_thread]
        return ok(request, [c.payload(self.world) for c in chans])

    async def guild_roles(self, request: web.Request) -> web.Response:
        return ok(request, [r.payload() for r in self._guild(request).roles.values()])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        member = guild.members.get(snowflake(request, "user_id"))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return ok(request, member.payload())

    async def _change_role(self, request: web.Request, add: bool) -> web.Response:
        guild = self._guild(request)
        member = guild.members.get(snowflake(request, "user_id"))
        role = guild.roles.get(snowflake(request, "role_id"))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        if role is None:
            raise ApiError(404, 10011, "Unknown Role")
        bot_id = self.world.bot_user.id
        can_manage = self.world.base_permissions(guild.id, bot_id) & perms.MANAGE_ROLES
        if not can_manage or role.position >= self.world.top_role_position(guild.id, bot_id):
            raise ApiError(403, 50013, "Missing Permissions")
        if add and role.id not in member.roles:
            member.roles.append(role.id)
        elif not add and role.id in member.roles:
            member.roles.remove(role.id)
        await self.fake.gateway.dispatch(
            "GUILD_MEMBER_UPDATE", {**member.payload(), "guild_id": str(guild.id)}
        )
        return ok(request)

    async def add_role(self, request: web.Request) -> web.Response:
        return await self._change_role(request, add=True)

    async def remove_role(self, request: web.Request) -> web.Response:
        return await self._change_role(request, add=False)
