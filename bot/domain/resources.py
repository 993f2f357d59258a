"""Crisis resources shown to a member who asks to talk.

The built-in list is short and well known; the member's Discord locale decides which lines
come first. A server can extend the list with its own lines (shown first) or replace the
built-in national lines. The emergency-number line and the international directory are always
shown: whatever a server configures, nobody is left without a way to find help.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Resource:
    region: str
    text: str


EMERGENCY = "If you are in danger right now, call your local emergency number (911, 999, 112, 000)."
DIRECTORY = Resource(
    "Anywhere",
    "Find a free, confidential helpline in your country: https://findahelpline.com",
)

US = Resource("United States", "988 Suicide & Crisis Lifeline: call or text **988** (24/7)")
UK_IE = Resource("UK & Ireland", "Samaritans: call **116 123** (free, 24/7)")
CANADA = Resource("Canada", "Suicide Crisis Helpline: call or text **9-8-8** (24/7)")
AUSTRALIA = Resource("Australia", "Lifeline: call **13 11 14** or text 0477 13 11 14 (24/7)")
BUILT_IN = (US, UK_IE, CANADA, AUSTRALIA)

# Discord locales (https://discord.com/developers/docs/reference#locales) → lines to show first.
# Discord has no en-CA or en-AU locale, so English speakers see all four national lines.
LOCALE_FIRST: dict[str, tuple[Resource, ...]] = {
    "en-US": (US, CANADA),
    "en-GB": (UK_IE, AUSTRALIA),
    "es-419": (US,),
    "es-ES": (US,),
    "fr": (CANADA,),
}

MAX_SERVER_TEXT = 1000


class ResourceMode(StrEnum):
    DEFAULT = "default"  # built-in lines only
    EXTEND = "extend"  # the server's lines, then the built-in ones
    REPLACE = "replace"  # the server's lines instead of the built-in national ones


def resources_for(
    locale: str | None, server_lines: str | None = None, mode: ResourceMode = ResourceMode.DEFAULT
) -> tuple[str, list[str]]:
    """(the emergency sentence, the list of resource lines) for this member and server."""
    first = LOCALE_FIRST.get(locale or "", ())
    national = [*first, *(r for r in BUILT_IN if r not in first)]
    lines = [f"**{r.region}**: {r.text}" for r in national]
    own = [line.strip() for line in (server_lines or "").splitlines() if line.strip()]
    if mode is ResourceMode.REPLACE and own:
        lines = own
    elif mode is ResourceMode.EXTEND and own:
        lines = own + lines
    lines.append(f"**{DIRECTORY.region}**: {DIRECTORY.text}")
    return EMERGENCY, lines
