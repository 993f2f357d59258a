"""Gateway payloads built from the world model (kept apart to keep ``world.py`` small)."""

from __future__ import annotations

from typing import Any

from .world import World

# The ``large_threshold`` discord.py always sends in IDENTIFY: above it a guild is "large"
# and Discord stops sending offline members in GUILD_CREATE.
LARGE_THRESHOLD = 250


def guild_create_payload(world: World, guild_id: int, *, all_members: bool) -> dict[str, Any]:
    """GUILD_CREATE as Discord sends it; without GUILD_MEMBERS only the bot's member. A large
    guild (over LARGE_THRESHOLD members) carries only the bot's member whatever the intents
    (Discord sends the bot and members in voice; the stand-in has no voice), so a bot that
    wants a big server's member list must ask for it in chunks."""
    guild = world.guilds[guild_id]
    large = len(guild.members) > LARGE_THRESHOLD
    if all_members and not large:
        members = [m.payload() for m in guild.members.values()]
    else:
        members = [guild.members[world.bot_user.id].payload()]
    channels = [c for c in world.guild_channels(guild_id)]
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "preferred_locale": guild.preferred_locale,
        "features": [],
        "roles": [r.payload() for r in guild.roles.values()],
        "emojis": [],
        "stickers": [],
        "soundboard_sounds": [],
        "joined_at": guild.members[world.bot_user.id].joined_at,
        "large": large,
        "unavailable": False,
        "member_count": len(guild.members),
        "max_members": 500000,
        "members": members,
        "channels": [c.payload(world) for c in channels if not c.is_thread],
        "threads": [c.payload(world) for c in channels if c.is_thread and not c.archived],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
    }
