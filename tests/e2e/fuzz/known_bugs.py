"""Fuzzed cases that reproduce a bug already pinned by a strict xfail test in
test_known_bugs. The fuzz tests skip exactly these cases (``hypothesis.assume``), so they keep
passing and keep looking for new bugs; when a bug is fixed, its xfail fails (strict) and the
matching exclusion here is deleted with it. None is open now.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.fuzz.world import Hearth


def known_bug(
    hearth: Hearth, path: str, schema: list[dict[str, Any]], options: dict[str, Any]
) -> bool:
    """Cases that reproduce a known bug, each pinned by an xfail test in test_known_bugs."""
    return False
