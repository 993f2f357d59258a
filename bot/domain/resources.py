"""Crisis resources shown to a member who asks to talk.

National lines come from `crisis_lines.toml` (each with its source): the server's region and
the member's Discord locale decide which countries are shown. A server can extend the list
with its own lines (shown first) or replace the built-in national lines. The emergency-number
line and the international directory are always shown: whatever a server configures, nobody
is left without a way to find help.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain import crisis_lines
from bot.i18n import _

# Shown to everyone, whatever else a server configures.
DIRECTORY_URL = "https://findahelpline.com"


def directory_line() -> str:
    return _("**Anywhere**: Find a free, confidential helpline in your country: {url}").format(
        url=DIRECTORY_URL
    )


MAX_SERVER_TEXT = 1000


class ResourceMode(StrEnum):
    DEFAULT = "default"  # built-in lines only
    EXTEND = "extend"  # the server's lines, then the built-in ones
    REPLACE = "replace"  # the server's lines instead of the built-in national ones


def resources_for(
    locale: str | None,
    server_lines: str | None = None,
    mode: ResourceMode = ResourceMode.DEFAULT,
    region: str | None = None,
) -> tuple[str, list[str]]:
    """(the emergency sentence, the list of resource lines) for this member and server, in
    the current language. National lines: the server's region first, then the countries of
    the member's Discord `locale` (`bot.domain.crisis_lines`)."""
    shown = crisis_lines.for_member(locale, region)
    lines = [
        f"**{crisis_lines.country_name(country.code)}**: {crisis_lines.describe(line)}"
        for country in shown
        for line in country.lines
    ]
    own = [line.strip() for line in (server_lines or "").splitlines() if line.strip()]
    if mode is ResourceMode.REPLACE and own:
        lines = own
    elif mode is ResourceMode.EXTEND and own:
        lines = own + lines
    lines.append(directory_line())
    return crisis_lines.emergency_sentence(shown), lines
