from __future__ import annotations

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.checkins.world import Grove, checkin, checkins_of, run
from tests.fakediscord import FakeDiscord


async def test_first_checkin_asks_consent_then_saves(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    handle = await run(fake, grove, grove.alice, "checkin")
    first = await handle.original_message()
    assert handle.is_ephemeral
    assert "Is it OK for Kinfolk to keep your check-ins?" in first.content
    saved = await checkin(fake, grove, grove.alice, 4)
    assert "Good" in saved.content
    assert [r.mood for r in await checkins_of(database, grove.alice)] == [4]
    mood = await run(fake, grove, grove.alice, "mood")
    chart = await mood.original_message()
    await fake.wait_for(lambda: bool(chart.attachments), what="the chart")
    assert chart.attachments[0].filename == "mood.png"
