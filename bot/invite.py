"""What the bot asks for when it is added to a server, and the OAuth2 URL that asks for it.

Each permission is here for a reason a server admin can read in the README; nothing more
is requested (notably no Administrator, no Mention Everyone, no Manage Server).
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

SCOPES = ("bot", "applications.commands")

# Discord permission bit → (name, why Kinfolk needs it).
PERMISSIONS: dict[int, tuple[str, str]] = {
    1 << 10: ("View Channels", "see the channels it is set up to post in"),
    1 << 11: ("Send Messages", "post moderator alerts, daily prompts and milestones"),
    1 << 14: ("Embed Links", "show alerts and summaries as embeds"),
    1 << 15: ("Attach Files", "send mood charts, circle maps and privacy exports"),
    1 << 16: ("Read Message History", "edit and follow up on its own alerts"),
    1 << 28: ("Manage Roles", "give and take the optional on-duty role (only roles below its own)"),
    1 << 34: ("Manage Threads", "close and archive private support and buddy threads"),
    1 << 36: ("Create Private Threads", "open private threads for buddies and support"),
    1 << 38: ("Send Messages in Threads", "speak in those private threads"),
}


def permission_value() -> int:
    value = 0
    for bit in PERMISSIONS:
        value |= bit
    return value


def application_id_from_token(token: str) -> int | None:
    """A bot token's first part is its user id (which is the application id), base64-encoded."""
    first = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(first + "=" * (-len(first) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(decoded) if decoded.isdigit() else None


def invite_url(application_id: int) -> str:
    query = urlencode(
        {"client_id": application_id, "scope": " ".join(SCOPES), "permissions": permission_value()}
    )
    return f"https://discord.com/oauth2/authorize?{query}"
