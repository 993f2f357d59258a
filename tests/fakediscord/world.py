"""The fake Discord's world model: users, guilds, channels, roles, members.

Tests build a ``World`` before starting the stand-in, and the stand-in serves it over
REST and the gateway. Everything here is plain data plus the rules Discord applies to it
(permission resolution, default @everyone permissions, payload shapes), so the REST
handlers and the gateway share one source of truth and tests can inspect the result.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .permissions import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    EMBED_LINKS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)

# Discord's epoch (2015-01-01) in ms; snowflakes encode creation time from here.
DISCORD_EPOCH_MS = 1420070400000

TEXT, DM, CATEGORY, PUBLIC_THREAD, PRIVATE_THREAD = 0, 1, 4, 11, 12
THREAD_TYPES = (10, PUBLIC_THREAD, PRIVATE_THREAD)


def iso_now() -> str:
    """Discord timestamps are ISO-8601 with an offset; discord.py parses them."""
    return datetime.now(UTC).isoformat()


_counter = itertools.count()


def new_snowflake() -> int:
    """Real-looking, unique, increasing snowflakes so ordering by id matches creation."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_counter) & 0x3FFFFF)


def shard_of(guild_id: int, num_shards: int) -> int:
    """The shard Discord routes a guild's events to: ``(guild_id >> 22) % num_shards``."""
    return (guild_id >> 22) % num_shards


def guild_id_on_shard(shard_id: int, num_shards: int) -> int:
    """A fresh snowflake for a guild that lands on ``shard_id`` of ``num_shards`` shards
    (pass it to ``World.add_guild(..., guild_id=...)``)."""
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"shard {shard_id} is not one of 0..{num_shards - 1}")
    snowflake = new_snowflake()
    ms = snowflake >> 22  # the shard is decided by the timestamp: move it a few ms on
    ms += (shard_id - ms % num_shards) % num_shards
    return (ms << 22) | (snowflake & 0x3FFFFF)


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    locale: str = "en-US"
    dms_closed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": None if self.bot else self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
        }


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class Overwrite:
    """A channel permission overwrite; ``type`` 0 = role, 1 = member (as in Discord)."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class Channel:
    id: int
    type: int
    name: str
    guild_id: int | None = None
    parent_id: int | None = None
    position: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)  # DM channels
    owner_id: int | None = None  # threads
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    thread_members: set[int] = field(default_factory=set)
    last_message_id: int | None = None

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    def payload(self, world: World) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "last_message_id": str(self.last_message_id) if self.last_message_id else None,
            "flags": 0,
        }
        if self.type == DM:
            data["recipients"] = [world.users[u].payload() for u in self.recipients]
            return data
        data.update(
            guild_id=str(self.guild_id),
            name=self.name,
            parent_id=str(self.parent_id) if self.parent_id else None,
            rate_limit_per_user=0,
        )
        if self.is_thread:
            data.update(
                owner_id=str(self.owner_id) if self.owner_id else None,
                member_count=len(self.thread_members),
                message_count=0,
                total_message_sent=0,
                thread_metadata={
                    "archived": self.archived,
                    "locked": self.locked,
                    "auto_archive_duration": self.auto_archive_duration,
                    "archive_timestamp": iso_now(),
                    "create_timestamp": iso_now(),
                    **({"invitable": self.invitable} if self.type == PRIVATE_THREAD else {}),
                },
            )
        else:
            data.update(
                position=self.position,
                permission_overwrites=[o.payload() for o in self.overwrites],
                nsfw=False,
                topic=None,
            )
        return data


@dataclass
class Member:
    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    @property
    def id(self) -> int:
        return self.user.id

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    preferred_locale: str = "en-US"

    @property
    def everyone_role(self) -> Role:
        return self.roles[self.id]


class World:
    """Everything the fake Discord knows. Build it in the test, then start ``FakeDiscord``."""

    def __init__(self, bot_name: str = "Kinfolk") -> None:
        self.application_id: int = new_snowflake()
        self.bot_user: User = User(id=self.application_id, name=bot_name, bot=True)
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user}
        self.app_owner: User = User(id=new_snowflake(), name="app owner")
        self.users[self.app_owner.id] = self.app_owner
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        # Filled by the message store; lets mention rules find a reply's target author.
        self.message_index: dict[int, Any] = {}

    # ----- building -------------------------------------------------------------------
    def add_user(self, name: str, *, bot: bool = False, locale: str = "en-US") -> User:
        user = User(id=new_snowflake(), name=name, bot=bot, locale=locale)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        owner_id: int | None = None,
        *,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        guild_id: int | None = None,
    ) -> Guild:
        """Create a guild with @everyone, the bot's managed role, the bot and the owner
        (``guild_id``: a chosen id, e.g. from ``guild_id_on_shard``)."""
        gid = guild_id if guild_id is not None else new_snowflake()
        if owner_id is None:
            owner_id = self.add_user(f"{name} owner").id
        guild = Guild(id=gid, name=name, owner_id=owner_id)
        guild.roles[gid] = Role(gid, gid, "@everyone", DEFAULT_EVERYONE_PERMISSIONS, position=0)
        self.guilds[gid] = guild
        bot_role = self.add_role(gid, self.bot_user.name, bot_permissions, managed=True)
        guild.members[self.bot_user.id] = Member(self.bot_user, gid, [bot_role.id])
        guild.members[owner_id] = Member(self.users[owner_id], gid)
        return guild

    def add_role(
        self, guild_id: int, name: str, permissions: int = 0, *, managed: bool = False
    ) -> Role:
        """New roles go to the bottom (position 1), as in Discord, so the bot's managed
        role created with the guild stays above them and can assign them."""
        guild = self.guilds[guild_id]
        for existing in guild.roles.values():
            if existing.position >= 1:
                existing.position += 1
        role = Role(new_snowflake(), guild_id, name, permissions, position=1, managed=managed)
        guild.roles[role.id] = role
        return role

    def _add_channel(self, channel: Channel) -> Channel:
        self.channels[channel.id] = channel
        if channel.guild_id is not None:
            self.guilds[channel.guild_id].channel_ids.append(channel.id)
        return channel

    def add_category(self, guild_id: int, name: str) -> Channel:
        return self._add_channel(Channel(new_snowflake(), CATEGORY, name, guild_id))

    def add_text_channel(
        self,
        guild_id: int,
        name: str,
        parent_id: int | None = None,
        *,
        overwrites: list[Overwrite] | None = None,
    ) -> Channel:
        position = len(self.guilds[guild_id].channel_ids)
        channel = Channel(new_snowflake(), TEXT, name, guild_id, parent_id, position)
        channel.overwrites = list(overwrites or [])
        return self._add_channel(channel)

    def add_thread(
        self, parent_id: int, name: str, *, private: bool = False, owner_id: int | None = None
    ) -> Channel:
        parent = self.channels[parent_id]
        kind = PRIVATE_THREAD if private else PUBLIC_THREAD
        thread = Channel(new_snowflake(), kind, name, parent.guild_id, parent_id)
        thread.owner_id = owner_id or self.bot_user.id
        thread.thread_members.add(thread.owner_id)
        return self._add_channel(thread)

    def add_member(
        self,
        guild_id: int,
        name: str,
        roles: tuple[int, ...] | list[int] = (),
        bot: bool = False,
        *,
        locale: str = "en-US",
    ) -> Member:
        user = self.add_user(name, bot=bot, locale=locale)
        member = Member(user, guild_id, list(roles))
        self.guilds[guild_id].members[user.id] = member
        return member

    def set_dms_closed(self, user_id: int, closed: bool = True) -> None:
        self.users[user_id].dms_closed = closed

    def dm_channel_for(self, user_id: int) -> Channel:
        """The one DM channel between the bot and ``user_id`` (created on first use)."""
        for ch in self.channels.values():
            if ch.type == DM and ch.recipients == [user_id]:
                return ch
        return self._add_channel(Channel(new_snowflake(), DM, "", recipients=[user_id]))

    # ----- queries --------------------------------------------------------------------
    def threads(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.is_thread]

    def guild_channels(self, guild_id: int) -> list[Channel]:
        return [self.channels[c] for c in self.guilds[guild_id].channel_ids]

    def base_permissions(self, guild_id: int, user_id: int) -> int:
        """Guild-level permissions per Discord: owner/ADMINISTRATOR mean everything."""
        guild = self.guilds[guild_id]
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        perms = guild.everyone_role.permissions
        member = guild.members.get(user_id)
        for rid in member.roles if member else ():
            perms |= guild.roles[rid].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_in(self, channel_id: int, user_id: int) -> int:
        """Channel permissions: base, then @everyone, role and member overwrites in order."""
        channel = self.channels[channel_id]
        if channel.guild_id is None:
            return VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | ATTACH_FILES | EMBED_LINKS
        perms = self.base_permissions(channel.guild_id, user_id)
        if perms == ALL_PERMISSIONS:
            return perms
        source = self.channels[channel.parent_id] if channel.is_thread else channel
        member = self.guilds[channel.guild_id].members.get(user_id)
        roles = set(member.roles) if member else set()
        by_id = {o.id: o for o in source.overwrites}
        if (ow := by_id.get(channel.guild_id)) is not None:
            perms = (perms & ~ow.deny) | ow.allow
        allow = deny = 0
        for o in source.overwrites:
            if o.type == 0 and o.id in roles:
                allow, deny = allow | o.allow, deny | o.deny
        perms = (perms & ~deny) | allow
        if (ow := by_id.get(user_id)) is not None and ow.type == 1:
            perms = (perms & ~ow.deny) | ow.allow
        return perms

    def top_role_position(self, guild_id: int, user_id: int) -> int:
        member = self.guilds[guild_id].members.get(user_id)
        roles = self.guilds[guild_id].roles
        return max((roles[r].position for r in member.roles), default=0) if member else 0
