"""Remembers what was last synced to Discord, so restarts don't re-sync an unchanged tree.

Global command sync is rate limited hard by Discord (and takes a while to propagate), so
the bot syncs only when the fingerprint of its command tree differs from the stored one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import app_state

KEY = "command_tree_hash"


def fingerprint(commands: list[dict[str, Any]]) -> str:
    """A stable hash of the command payloads (order of commands and keys does not matter)."""
    canonical = sorted(json.dumps(c, sort_keys=True, separators=(",", ":")) for c in commands)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


async def needs_sync(db: Database, tree_hash: str) -> bool:
    async with db.session() as session:
        return await app_state.get_value(session, KEY) != tree_hash


async def record_sync(db: Database, clock: Clock, tree_hash: str) -> None:
    async with db.session() as session:
        await app_state.set_value(session, KEY, tree_hash, now=clock.now())
