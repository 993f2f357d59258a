"""Reach-out end to end: a quiet member who opted in gets one kind DM with five one-tap
answers, once per quiet spell and stage (then 30 and 60 days later, then nothing until they
are back); members who did not opt in get nothing; nothing arrives in anyone's night —
on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.services.reachout.sweep import KIND_DM
from bot.services.reachout.texts import ANSWERS
from tests.e2e.checkins.world import outbox_rows
from tests.e2e.conftest import StartBot
from tests.e2e.reachout.world import (
    Hearth,
    answer_ids,
    member_row,
    move_to,
    opt_in,
    reachouts,
    reply,
    set_up,
    utc,
    walk,
    written,
)
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

QUIET = utc(1, 8, 13)  # the first sweep after alice's three quiet days (from 5 January 12:00)


def hours_after(start: datetime, *hours: float) -> list[datetime]:
    return [start + timedelta(hours=h) for h in hours]


async def test_a_quiet_member_gets_exactly_one_dm_with_five_answers(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice = hearth["alice"]
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, "alice")
    await written(fake, kinfolk)

    await move_to(fake, database, clock, QUIET - timedelta(hours=2))  # not yet 3 days
    assert fake.dm_messages(alice) == []
    await move_to(fake, database, clock, QUIET)
    [dm] = fake.dm_messages(alice)
    assert dm.content.startswith("Hi, it's Kinfolk from **Hearth**.")
    assert "{server}" not in dm.content
    buttons = [c for row in dm.components for c in row["components"]]
    assert [b["custom_id"] for b in buttons] == answer_ids(hearth)
    assert [b["label"] for b in buttons] == list(ANSWERS.values())
    assert fake.pinged(dm) == set()

    [row] = await outbox_rows(database, KIND_DM)
    assert (row.status, row.target_id) == ("sent", alice)
    # More sweeps in the same quiet spell, hourly and then days apart, send nothing more (the
    # sent row itself is purged after a week: what stops a second DM is her stage).
    stops = hours_after(QUIET, 1, 2, 3, 24, 24 * 10, 24 * 29)
    assert set((await walk(fake, database, clock, *stops)).values()) == {1}
    assert [r for r in await outbox_rows(database, KIND_DM) if r.id != row.id] == []
    member = await member_row(database, hearth, alice)
    assert member is not None
    assert (member.stage, member.last_reached_at) == (1, QUIET)


async def test_the_backoff_is_30_then_60_days_then_nothing_until_they_are_back(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice = hearth["alice"]
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, "alice")
    await written(fake, kinfolk)

    second, third = QUIET + timedelta(days=30), QUIET + timedelta(days=90)
    arrivals = await walk(
        fake,
        database,
        clock,
        QUIET,
        second - timedelta(hours=1),
        second,
        third - timedelta(hours=1),
        third,
        third + timedelta(days=100),
    )
    assert list(arrivals.values()) == [1, 1, 2, 2, 3, 3]

    back = clock.now()
    await fake.post_message(hearth.general_id, alice, "I'm back")
    await written(fake, kinfolk)
    # A new quiet spell starts the backoff over: one DM three days after she was last seen.
    arrivals = await walk(
        fake, database, clock, back + timedelta(days=3) - timedelta(minutes=1),
        back + timedelta(days=3, hours=1),
    )  # fmt: skip
    assert list(arrivals.values()) == [3, 4]
    assert len(reachouts(fake, alice)) == 4


async def test_members_who_did_not_opt_in_get_nothing(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice, bob, cai = hearth["alice"], hearth["bob"], hearth["cai"]
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, "alice", "cai")  # alice is the control
    off = await reply(fake, hearth, cai, "reachout off")
    assert "won't DM you about being quiet" in off
    shown = await reply(fake, hearth, bob, "reachout show")  # bob never says yes
    assert "You haven't said yes" in shown
    await written(fake, kinfolk)
    for member in (alice, bob, cai):
        assert await member_row(database, hearth, member) is not None  # all three tracked

    stops = [QUIET, QUIET + timedelta(days=31), QUIET + timedelta(days=95)]
    assert list((await walk(fake, database, clock, *stops)).values()) == [1, 2, 3]
    assert len(reachouts(fake, alice)) == 3
    assert fake.dm_messages(bob) == []
    assert fake.dm_messages(cai) == []
    assert {r.target_id for r in await outbox_rows(database, KIND_DM)} == {alice}


async def test_quiet_hours_are_respected_in_each_members_timezone(
    fake: FakeDiscord,
    hearth: Hearth,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    clock._now = utc(1, 5, 16, 30)
    bot = await start_bot()
    tokyo, angeles, own_hours = hearth["alice"], hearth["bob"], hearth["cai"]
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, "alice", "bob", "cai")
    for member, zone in ((tokyo, "Asia/Tokyo"), (angeles, "America/Los_Angeles")):
        answer = await reply(fake, hearth, member, "reminder timezone", timezone=zone)
        assert f"**{zone}**" in answer
    answer = await reply(
        fake, hearth, own_hours, "reachout quiet-hours", start="15:00", end="20:00"
    )
    assert "between **15:00** and **20:00** (UTC time" in answer
    await written(fake, bot)

    # Quiet from 5 January 16:30 + 3 days; the first sweep that sees it is at 17:00 UTC,
    # when it is 02:00 in Tokyo, 09:00 in Los Angeles and inside cai's 15:00–20:00. Each
    # stop runs the hourly sweep; the stops just before 20:00 and 23:00 show nothing early.
    stops = [utc(1, 8, h) for h in (16, 17, 19, 20, 22, 23)] + [utc(1, 9, 16)]
    arrived: dict[int, list[datetime]] = {m: [] for m in (tokyo, angeles, own_hours)}
    for when in stops:
        before = {m: len(reachouts(fake, m)) for m in arrived}
        await move_to(fake, database, clock, when)
        for member in arrived:
            arrived[member] += [when] * (len(reachouts(fake, member)) - before[member])
    assert arrived == {
        angeles: [utc(1, 8, 17)],  # 09:00 in Los Angeles: at once
        own_hours: [utc(1, 8, 20)],  # the end of cai's own quiet hours
        tokyo: [utc(1, 8, 23)],  # 08:00 on 9 January in Tokyo
    }


async def test_a_member_who_left_the_server_gets_nothing(
    fake: FakeDiscord,
    hearth: Hearth,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice, bob = hearth["alice"], hearth["bob"]
    bot = await start_bot(members_intent=True)  # Discord only tells of departures with it
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, "alice", "bob")  # alice is the control
    await written(fake, bot)

    del hearth.world.guilds[hearth.guild_id].members[bob]
    await fake.dispatch(
        "GUILD_MEMBER_REMOVE",
        {"guild_id": str(hearth.guild_id), "user": hearth.world.users[bob].payload()},
    )
    await written(fake, bot)
    row = await member_row(database, hearth, bob)
    assert row is not None
    assert row.left_at == clock.now()

    stops = [QUIET, QUIET + timedelta(days=31)]
    assert list((await walk(fake, database, clock, *stops)).values()) == [1, 2]
    assert fake.dm_messages(bob) == []
    assert {r.target_id for r in await outbox_rows(database, KIND_DM)} == {alice}


async def test_quiet_hours_that_start_and_end_together_are_refused_kindly(
    fake: FakeDiscord, hearth: Hearth, start_bot: StartBot, database: Database
) -> None:
    await start_bot()
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, "alice")
    alice = hearth["alice"]
    answer = await reply(fake, hearth, alice, "reachout quiet-hours", start="22:00", end="10pm")
    assert answer == (
        "Quiet hours from 22:00 to 22:00 start and end at the same time, so I can't tell what "
        "you mean. Pick an end that differs from the start, e.g. 22:00 to 08:00. If you'd "
        "rather have no reach-out DMs at all, **/reachout off** stops them. Nothing was changed."
    )
    row = await member_row(database, hearth, alice)
    assert row is not None
    assert (row.quiet_start, row.quiet_end) == (None, None)
