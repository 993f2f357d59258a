"""A local Discord stand-in that the unmodified discord.py client talks to.

No test may talk to the real Discord. ``FakeDiscord`` serves REST and the gateway on
127.0.0.1 so end-to-end tests exercise the same discord.py code paths as production,
while recording everything the bot did and rejecting what real Discord would reject.
"""

from __future__ import annotations

from collections.abc import Callable

import discord.gateway
import discord.http
import yarl

from .interactions import InteractionHandle
from .messages import Attachment, StoredMessage
from .server import FakeDiscord
from .world import Channel, Guild, Member, Overwrite, Role, User, World

__all__ = [
    "Attachment",
    "Channel",
    "FakeDiscord",
    "Guild",
    "InteractionHandle",
    "Member",
    "Overwrite",
    "Role",
    "StoredMessage",
    "User",
    "World",
    "point_discord_py_at",
]


def point_discord_py_at(api_base: str, gateway_url: str) -> Callable[[], None]:
    """Point discord.py's REST and gateway at the stand-in; returns an undo function.

    Only two class attributes are involved: ``discord.http.Route.BASE`` (every REST call,
    including the interaction/webhook adapter in ``discord/webhook/async_.py``, builds its
    URL from it when the ``Route`` is created) and
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. ``Webhook.url`` still says
    discord.com, but it is only a display string and is never requested.
    """
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def undo() -> None:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return undo
