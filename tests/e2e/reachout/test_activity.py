"""Participation end to end: a message, a reaction or a Kinfolk command in a counted channel
moves a member's last-seen time (and so puts off their reach-out); a bot's message, or one in
a channel the server did not choose, does not — on both backends."""

from __future__ import annotations

from datetime import date

import pytest

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.reachout.world import (
    Hearth,
    days_of,
    last_seen,
    member_row,
    move_to,
    opt_in,
    reachouts,
    reply,
    set_up,
    utc,
    written,
)
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

START = utc(1, 5, 12)  # the clock's start; alice opts in and is last seen then
ACTIVE = utc(1, 7, 12)  # two days later: the activity under test
WOULD_BE_QUIET = utc(1, 8, 13)  # three days after START: quiet, unless ACTIVE counted
QUIET_AGAIN = utc(1, 10, 13)  # three days after ACTIVE


async def quiet_alice(fake: FakeDiscord, hearth: Hearth, bot: KinfolkBot) -> None:
    """Reach-out on with a 3-day threshold, counting #general only; alice opted in."""
    answer = await set_up(fake, hearth, threshold_days=3, channels=f"<#{hearth.general_id}>")
    assert f"messages and reactions in <#{hearth.general_id}>" in answer
    await opt_in(fake, hearth, "alice")
    await written(fake, bot)


@pytest.mark.parametrize("activity", ["message", "reaction", "command"])
async def test_activity_resets_the_clock(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    activity: str,
) -> None:
    alice = hearth["alice"]
    hello = await fake.post_message(hearth.general_id, hearth["bob"], "hello all")
    await quiet_alice(fake, hearth, kinfolk)
    assert await last_seen(database, hearth, alice) == START

    await move_to(fake, database, clock, ACTIVE)
    if activity == "message":
        await fake.post_message(hearth.general_id, alice, "still here")
    elif activity == "reaction":
        await fake.add_reaction(hello, alice, "💛")
    else:
        assert "Kinfolk **may** DM you" in await reply(fake, hearth, alice, "reachout show")
    await written(fake, kinfolk)
    assert await last_seen(database, hearth, alice) == ACTIVE
    counted = {"message": "messages", "reaction": "reactions", "command": "commands"}[activity]
    [today] = [d for d in await days_of(database, alice) if d.day == date(2026, 1, 7)]
    assert getattr(today, counted) == 1

    await move_to(fake, database, clock, WOULD_BE_QUIET)
    assert reachouts(fake, alice) == []
    await move_to(fake, database, clock, QUIET_AGAIN)
    assert len(reachouts(fake, alice)) == 1


async def test_a_bots_message_is_not_counted(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await quiet_alice(fake, hearth, kinfolk)
    await move_to(fake, database, clock, ACTIVE)
    await fake.post_message(hearth.general_id, hearth.other_bot, "beep boop")
    await fake.post_message(hearth.general_id, hearth["bob"], "hi")  # counted: the control
    await written(fake, kinfolk)

    assert await last_seen(database, hearth, hearth["bob"]) == ACTIVE
    assert await member_row(database, hearth, hearth.other_bot) is None
    assert await days_of(database, hearth.other_bot) == []
    await move_to(fake, database, clock, WOULD_BE_QUIET)
    assert len(reachouts(fake, hearth["alice"])) == 1
    assert fake.dm_messages(hearth.other_bot) == []


async def test_a_channel_the_server_did_not_choose_is_not_counted(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice = hearth["alice"]
    await quiet_alice(fake, hearth, kinfolk)
    await move_to(fake, database, clock, ACTIVE)
    elsewhere = await fake.post_message(hearth.offtopic_id, alice, "over here")
    await fake.add_reaction(elsewhere, alice, "🙂")
    await fake.post_message(hearth.general_id, hearth["bob"], "hi")  # counted: the control
    await written(fake, kinfolk)

    assert await last_seen(database, hearth, hearth["bob"]) == ACTIVE
    assert await last_seen(database, hearth, alice) == START
    assert [d for d in await days_of(database, alice) if d.day == date(2026, 1, 7)] == []
    await move_to(fake, database, clock, WOULD_BE_QUIET)
    assert len(reachouts(fake, alice)) == 1
