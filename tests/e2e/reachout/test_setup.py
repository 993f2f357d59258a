"""/setup reachout end to end: what it says it did, and bad input answered kindly with
nothing changed — on both backends."""

from __future__ import annotations

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.services.reachout.settings import KIND_SWEEP
from tests.e2e.checkins.world import outbox_rows
from tests.e2e.driver import settle
from tests.e2e.reachout.world import Hearth, set_up, settings_row
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock


async def test_bad_channels_are_answered_kindly_and_change_nothing(
    fake: FakeDiscord, hearth: Hearth, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    refused = await set_up(fake, hearth, channels="nonsense")
    assert "I couldn't read “nonsense” as a channel" in refused
    assert "#general #support, or write `all`" in refused
    assert "Nothing was changed." in refused
    assert await settings_row(database, hearth) is None  # not even switched on
    assert await outbox_rows(database, KIND_SWEEP) == []

    done = await set_up(fake, hearth, threshold_days=5, channels=f"<#{hearth.general_id}>")
    assert "quiet for **5 days**" in done
    before = await settings_row(database, hearth)
    assert before is not None
    await settle(fake, database, clock)  # the first sweep ran and queued the next
    sweeps = len(await outbox_rows(database, KIND_SWEEP))

    refused = await set_up(fake, hearth, threshold_days=10, channels="#general, nonsense")
    assert "I couldn't read “#general” as a channel" in refused
    assert "Nothing was changed." in refused
    after = await settings_row(database, hearth)
    assert after is not None
    assert (after.threshold_days, after.channel_ids, after.version) == (
        5,
        [hearth.general_id],
        before.version,
    )
    await settle(fake, database, clock)
    assert len(await outbox_rows(database, KIND_SWEEP)) == sweeps


async def test_a_channel_that_is_not_in_this_server_is_refused(
    fake: FakeDiscord, hearth: Hearth, kinfolk: KinfolkBot, database: Database
) -> None:
    stranger = fake.new_id()  # e.g. a channel of another server, pasted by mistake
    refused = await set_up(fake, hearth, channels=f"<#{hearth.general_id}> <#{stranger}>")
    assert "Nothing was changed." in refused
    assert await settings_row(database, hearth) is None
