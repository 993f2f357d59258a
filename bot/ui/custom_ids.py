"""The pieces Kinfolk's custom-id patterns are made of, in one place.

A custom id comes back from Discord as text anyone could have crafted, so each piece
matches only what Kinfolk itself puts there: an id is a snowflake of 1 to 20 digits. The
patterns name their groups; a button or form reads `match["guild"]`, `match["id"]`, …
"""

from __future__ import annotations

SNOWFLAKE = r"[0-9]{1,20}"


def named(name: str, pattern: str = SNOWFLAKE) -> str:
    """A named group: `named("guild")` matches a server id and keeps it as "guild"."""
    return f"(?P<{name}>{pattern})"


def one_of(name: str, *choices: str) -> str:
    """A named group matching exactly one of `choices`."""
    return named(name, "|".join(choices))


GUILD = named("guild")  # the server the button acts in (checked: bot.ui.bound)
ID = named("id")  # the row the button acts on: a check-in, a request (checked by its service)
YES_NO = one_of("answer", "yes", "no")
