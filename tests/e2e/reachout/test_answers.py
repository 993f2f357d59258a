"""The five one-tap answers under a reach-out DM, end to end: each is recorded and does what
it says — "I'd like to talk" opens an escalation the moderators are alerted to, "Pause for a
month" holds everything for 30 days, "Stop these messages" ends them for good — on both
backends."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import SupportRequest
from bot.services.reachout.texts import REPLIES
from tests.e2e.checkins.world import checkins_of
from tests.e2e.escalation.world import ALERT_TITLE, field, request_row
from tests.e2e.reachout.world import (
    Hearth,
    checkin,
    last_seen,
    member_row,
    move_to,
    opt_in,
    press,
    reachouts,
    reply,
    run,
    set_up,
    utc,
    walk,
    written,
)
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

QUIET = utc(1, 8, 13)  # the first sweep after alice's three quiet days (from 5 January 12:00)
PICKER_TEXT = "How are you today?"


async def reached(
    fake: FakeDiscord, hearth: Hearth, bot: KinfolkBot, db: Database, clock: FrozenClock
) -> StoredMessage:
    """alice opted in, went quiet for three days and got her one DM."""
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, "alice")
    await written(fake, bot)
    await move_to(fake, db, clock, QUIET)
    [dm] = reachouts(fake, hearth["alice"])
    return dm


async def test_im_ok_just_busy_is_recorded(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await reached(fake, hearth, kinfolk, database, clock)
    clock._now = QUIET + timedelta(minutes=5)
    answer = await press(fake, hearth, "alice", "busy")
    assert answer.is_ephemeral
    assert (await answer.original_message()).content == REPLIES["busy"]
    row = await member_row(database, hearth, hearth["alice"])
    assert row is not None
    assert (row.last_answer, row.last_answer_at) == ("busy", QUIET + timedelta(minutes=5))
    assert row.dm_consent == "yes"  # nothing else changes
    assert row.paused_until is None
    stops = [QUIET + timedelta(hours=1), QUIET + timedelta(days=7)]
    assert set((await walk(fake, database, clock, *stops)).values()) == {1}


async def test_check_in_now_shows_the_mood_buttons_and_a_tap_counts_as_activity(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice = hearth["alice"]
    await checkin(fake, hearth, "alice", 3)  # agreed to keep check-ins on 5 January
    await reached(fake, hearth, kinfolk, database, clock)

    pressed = await press(fake, hearth, "alice", "checkin")
    picker = await pressed.original_message()
    assert pressed.is_ephemeral
    assert PICKER_TEXT in picker.content
    assert picker.custom_ids == [f"checkin:mood:{hearth.guild_id}:{m}" for m in range(1, 6)]
    row = await member_row(database, hearth, alice)
    assert row is not None
    assert row.last_answer == "checkin"

    tapped = await fake.click(picker, f"checkin:mood:{hearth.guild_id}:4", alice)
    assert (await tapped.original_message()).content.startswith("Saved")
    assert [(c.mood, c.local_day) for c in await checkins_of(database, alice)] == [
        (3, date(2026, 1, 5)),
        (4, date(2026, 1, 8)),
    ]
    await written(fake, kinfolk)
    assert await last_seen(database, hearth, alice) == QUIET  # she is back: a new spell


async def test_id_like_to_talk_opens_an_escalation_and_alerts_the_moderators(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice = hearth["alice"]
    await run_escalation_setup(fake, hearth)
    await reached(fake, hearth, kinfolk, database, clock)

    pressed = await press(fake, hearth, "alice", "talk")
    answer = await pressed.original_message()
    assert pressed.is_ephemeral
    assert answer.embeds[0]["title"] == "I'm here, and the team has been told"
    request = await request_row(database, alice)
    assert (request.guild_id, request.urgency, request.status) == (
        hearth.guild_id,
        "struggling",
        "open",
    )
    alert = await fake.wait_for(
        lambda: [
            m
            for m in fake.messages(hearth.alerts_id)
            if m.embeds and m.embeds[0].get("title", "").endswith(ALERT_TITLE)
        ],
        what="the moderators' alert",
    )
    [alert] = alert
    assert fake.pinged(alert) == {f"role:{hearth.moderators_role}"}
    assert field(alert, "Member") == f"<@{alice}>"
    assert "Struggling" in field(alert, "Urgency")
    row = await member_row(database, hearth, alice)
    assert row is not None
    assert row.last_answer == "talk"


@pytest.mark.parametrize("choice", ["talk", "checkin", "pause"])
async def test_a_member_no_longer_in_the_server_is_told_so_and_nothing_happens_there(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    choice: str,
) -> None:
    """The DM outlives her membership (she left, or was banned): its buttons must not open a
    request, record a check-in or change anything in a server she is not in."""
    alice = hearth["alice"]
    await run_escalation_setup(fake, hearth)
    await reached(fake, hearth, kinfolk, database, clock)
    del hearth.world.guilds[hearth.guild_id].members[alice]

    pressed = await press(fake, hearth, "alice", choice)
    answer = await pressed.original_message()
    assert pressed.is_ephemeral
    assert "not a member of that server any more" in answer.content
    if choice == "talk":  # where help is, all the same
        assert "988" in str(answer.embeds)
        assert answer.embeds[0]["title"] == "🆘 If you need help right now"
    async with database.read() as session:
        assert (await session.scalars(select(SupportRequest))).all() == []
    row = await member_row(database, hearth, alice)
    assert row is not None
    assert (row.last_answer, row.paused_until) == (None, None)
    assert [m for m in fake.messages(hearth.alerts_id) if m.embeds] == []


async def run_escalation_setup(fake: FakeDiscord, hearth: Hearth) -> None:
    handle = await run(
        fake,
        hearth,
        hearth.owner_id,
        "setup escalation",
        alert_channel=hearth.alerts_id,
        moderator_role=hearth.moderators_role,
        support_channel=hearth.support_id,
    )
    summary = await handle.original_message()
    assert f"<#{hearth.alerts_id}>" in str(summary.embeds)


async def test_pause_for_a_month_holds_everything_for_30_days(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await reached(fake, hearth, kinfolk, database, clock)
    pressed = await press(fake, hearth, "alice", "pause")
    assert (await pressed.original_message()).content == REPLIES["pause"]
    row = await member_row(database, hearth, hearth["alice"])
    assert row is not None
    assert (row.last_answer, row.paused_until) == ("pause", QUIET + timedelta(days=30))

    month = QUIET + timedelta(days=30)
    stops = [QUIET + timedelta(days=d) for d in (1, 10, 20, 29)] + [month - timedelta(hours=1)]
    assert set((await walk(fake, database, clock, *stops)).values()) == {1}
    # Afterwards reach-out carries on where it was: the next DM of the backoff comes.
    await move_to(fake, database, clock, month + timedelta(hours=1))
    assert len(reachouts(fake, hearth["alice"])) == 2


async def test_stop_these_messages_ends_them_for_good(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice = hearth["alice"]
    await reached(fake, hearth, kinfolk, database, clock)
    pressed = await press(fake, hearth, "alice", "stop")
    assert (await pressed.original_message()).content == REPLIES["stop"]
    row = await member_row(database, hearth, alice)
    assert row is not None
    assert (row.last_answer, row.dm_consent) == ("stop", "no")

    stops = [QUIET + timedelta(days=d) for d in (1, 31, 91, 200)]
    assert set((await walk(fake, database, clock, *stops)).values()) == {1}
    # Not even after she is active and then quiet again: a new spell brings nothing either.
    await fake.post_message(hearth.general_id, alice, "hello again")
    await written(fake, kinfolk)
    later = clock.now()
    stops = [later + timedelta(days=4), later + timedelta(days=40)]
    assert set((await walk(fake, database, clock, *stops)).values()) == {1}
    assert "Kinfolk **won't** DM you" in await reply(fake, hearth, alice, "reachout show")
