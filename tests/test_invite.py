"""The invite asks for exactly the permissions the README explains, by their real bits."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import discord

from bot.invite import PERMISSIONS, application_id_from_token, invite_url, permission_value

EXPECTED = {
    "read_messages",  # discord.py's name for View Channel
    "send_messages",
    "embed_links",
    "attach_files",
    "read_message_history",
    "manage_roles",
    "manage_threads",
    "create_private_threads",
    "send_messages_in_threads",
}


def test_permission_bits_are_the_named_ones() -> None:
    granted = {name for name, on in discord.Permissions(permission_value()) if on}
    assert granted == EXPECTED
    assert len(PERMISSIONS) == len(EXPECTED)


def test_never_asks_for_dangerous_permissions() -> None:
    permissions = discord.Permissions(permission_value())
    assert not permissions.administrator
    assert not permissions.mention_everyone
    assert not permissions.kick_members
    assert not permissions.ban_members
    assert not permissions.manage_guild


def test_invite_url() -> None:
    query = parse_qs(urlsplit(invite_url(42)).query)
    assert query == {
        "client_id": ["42"],
        "scope": ["bot applications.commands"],
        "permissions": [str(permission_value())],
    }


def test_application_id_from_token() -> None:
    assert application_id_from_token("MTIzNDU2Nzg5MDEyMzQ1Njc4.x.y") == 123456789012345678
    assert application_id_from_token("!!!.x.y") is None
    assert application_id_from_token("aGVsbG8.x.y") is None  # "hello": not an id
