"""Small helpers for the words Kinfolk says: real singular and plural, never "day(s)"."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 day", "3 days"; `many` for irregular plurals ("1 person", "2 people")."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
