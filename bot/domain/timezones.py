"""IANA timezone names: validation and the search behind autocomplete ("berl" → Europe/Berlin)."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, available_timezones


@cache
def all_timezones() -> tuple[str, ...]:
    # Legacy aliases like "US/Eastern" or "Etc/GMT+5" (whose sign is inverted) only confuse.
    names = (n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "US/")))
    return tuple(sorted((*names, "UTC")))


@cache
def _known() -> frozenset[str]:
    return frozenset(all_timezones())


def is_valid_timezone(name: str) -> bool:
    # A set, not the sorted tuple: every check-in and every DM of a sweep asks (issue 18).
    return name in _known()


def zone(name: str) -> ZoneInfo:
    if not is_valid_timezone(name):
        raise ValueError(f"unknown timezone {name!r}")
    return ZoneInfo(name)


def search_timezones(query: str, limit: int = 25) -> list[str]:
    """Names matching `query`: city-name prefixes first, then any substring, case-insensitive.

    Spaces match underscores, so "new york" finds America/New_York.
    """
    needle = query.strip().lower().replace(" ", "_")
    if not needle:
        return list(all_timezones()[:limit])
    city_prefix = [n for n in all_timezones() if n.rsplit("/", 1)[-1].lower().startswith(needle)]
    anywhere = [n for n in all_timezones() if needle in n.lower() and n not in city_prefix]
    return (city_prefix + anywhere)[:limit]
