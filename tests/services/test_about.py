"""What /about and /setup show reports for check-ins."""

from __future__ import annotations

from bot.db.engine import Database
from bot.services.about import feature_statuses
from bot.services.buddies import schedule
from bot.services.checkins import prompt
from bot.services.reachout import settings
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


async def status_of(db: Database, guild_id: int, name: str) -> tuple[bool, str]:
    status = next(s for s in await feature_statuses(db, guild_id) if s.name == name)
    return status.configured, status.detail


async def test_buddies_status_follows_the_setup(db: Database, clock: FrozenClock) -> None:
    configured, detail = await status_of(db, 7, "Buddies")
    assert not configured
    assert "/setup buddies" in detail
    await schedule.configure(
        db,
        clock,
        7,
        channel_id=80,
        round_days=14,
        weekday=0,
        start_time="10:00",
        required_role_id=None,
        actor_id=1,
    )
    assert await status_of(db, 7, "Buddies") == (True, "threads under <#80>, rounds of 14 days")


async def test_reachout_status_follows_the_setup(db: Database, clock: FrozenClock) -> None:
    configured, detail = await status_of(db, 7, "Reach-out")
    assert not configured
    assert "/setup reachout" in detail
    await settings.configure(db, clock, 7, actor_id=1, enabled=True, threshold_days=21)
    assert await status_of(db, 7, "Reach-out") == (True, "on, after 21 quiet days")
    await settings.configure(db, clock, 7, actor_id=1, digest_channel_id=90)
    assert await status_of(db, 7, "Reach-out") == (
        True,
        "on, after 21 quiet days, weekly digest in <#90>",
    )
    await settings.configure(db, clock, 7, actor_id=1, enabled=False)
    assert (await status_of(db, 7, "Reach-out"))[0] is False
