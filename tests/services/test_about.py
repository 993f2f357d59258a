"""What /about and /setup show reports for check-ins."""

from __future__ import annotations

from bot.db.engine import Database
from bot.services.about import feature_statuses
from bot.services.checkins import prompt
from tests.helpers import FrozenClock


async def checkins_status(db: Database, guild_id: int) -> tuple[bool, str]:
    status = next(s for s in await feature_statuses(db, guild_id) if s.name == "Check-ins")
    return status.configured, status.detail


async def test_checkins_status_follows_the_setup(db: Database, clock: FrozenClock) -> None:
    configured, detail = await checkins_status(db, 7)
    assert not configured
    assert "/setup checkins" in detail
    await prompt.configure(db, clock, 7, channel_id=70, prompt_time="9am", actor_id=1)
    configured, detail = await checkins_status(db, 7)
    assert configured
    assert detail == "shared moods in <#70>, daily prompt at 09:00 UTC"
    await prompt.configure(db, clock, 7, channel_id=71, prompt_time=None, actor_id=1)
    assert await checkins_status(db, 7) == (True, "shared moods in <#71>")
