from __future__ import annotations

import pytest

from bot.db.engine import Database
from bot.services import command_sync
from bot.services.about import feature_statuses
from bot.services.guild_config import InvalidSetting, get_config, set_timezone
from tests.helpers import FrozenClock


async def test_defaults_until_a_moderator_changes_something(
    db: Database, clock: FrozenClock
) -> None:
    config = await get_config(db, 99)
    assert (config.timezone, config.customised) == ("UTC", False)
    status, *_ = await feature_statuses(db, 99)
    assert not status.configured
    await set_timezone(db, clock, 99, " Europe/Berlin ", actor_id=1)
    config = await get_config(db, 99)
    assert (config.timezone, config.customised) == ("Europe/Berlin", True)
    status, *_ = await feature_statuses(db, 99)
    assert status.configured
    assert "Europe/Berlin" in status.detail


async def test_an_unknown_timezone_changes_nothing(db: Database, clock: FrozenClock) -> None:
    await set_timezone(db, clock, 5, "Asia/Tokyo", actor_id=1)
    with pytest.raises(InvalidSetting, match="isn't a timezone I know"):
        await set_timezone(db, clock, 5, "Moon/Base", actor_id=1)
    assert (await get_config(db, 5)).timezone == "Asia/Tokyo"


async def test_command_sync_is_remembered(db: Database, clock: FrozenClock) -> None:
    tree = [{"name": "about", "description": "x"}, {"name": "setup", "options": []}]
    tree_hash = command_sync.fingerprint(tree)
    assert tree_hash == command_sync.fingerprint(list(reversed(tree)))
    assert await command_sync.needs_sync(db, tree_hash)
    await command_sync.record_sync(db, clock, tree_hash)
    assert not await command_sync.needs_sync(db, tree_hash)
    changed = command_sync.fingerprint([{"name": "about", "description": "y"}])
    assert await command_sync.needs_sync(db, changed)
    await command_sync.record_sync(db, clock, changed)
    assert not await command_sync.needs_sync(db, changed)
