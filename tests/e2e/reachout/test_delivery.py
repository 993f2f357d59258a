"""Reach-out DMs through the outbox, end to end: a restart after the sweep queued them, or a
process that died holding them, sends each exactly once; closed DMs are recorded, never
retried, and /reachout show says so — on both backends."""

from __future__ import annotations

from datetime import timedelta

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.services.reachout.sweep import KIND_DM, KIND_SWEEP_ALL
from tests.e2e.checkins.world import outbox_rows
from tests.e2e.conftest import StartBot
from tests.e2e.reachout.world import (
    NAMES,
    Hearth,
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

# Everyone is last seen at 23:30 UTC; three days later the sweep at 00:30 finds them quiet in
# the middle of their night (22:00–08:00 UTC), so their DMs wait, queued, until 08:00.
LAST_SEEN = utc(1, 5, 23, 30)
SWEPT = utc(1, 9, 0, 30)
MORNING = utc(1, 9, 8)


async def queued_for_the_morning(
    fake: FakeDiscord, hearth: Hearth, start_bot: StartBot, db: Database, clock: FrozenClock
) -> KinfolkBot:
    clock._now = LAST_SEEN
    bot = await start_bot()
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, *NAMES)
    await written(fake, bot)
    await move_to(fake, db, clock, SWEPT)
    rows = await outbox_rows(db, KIND_DM)
    assert sorted(r.target_id for r in rows) == sorted(hearth.members.values())
    assert {(r.status, r.due_at) for r in rows} == {("pending", MORNING)}
    assert all(fake.dm_messages(m) == [] for m in hearth.members.values())
    return bot


def each_got(fake: FakeDiscord, hearth: Hearth) -> dict[str, int]:
    return {name: len(reachouts(fake, member)) for name, member in hearth.members.items()}


async def test_a_restart_after_the_sweep_queued_the_dms_sends_each_once(
    fake: FakeDiscord, hearth: Hearth, start_bot: StartBot, database: Database, clock: FrozenClock
) -> None:
    await queued_for_the_morning(fake, hearth, start_bot, database, clock)
    clock._now = utc(1, 9, 3)
    await start_bot()  # a restart in the night, with the DMs queued and not yet sent
    await move_to(fake, database, clock, MORNING - timedelta(minutes=1))
    assert set(each_got(fake, hearth).values()) == {0}
    await move_to(fake, database, clock, MORNING)
    assert set(each_got(fake, hearth).values()) == {1}

    await start_bot()  # and a restart after they went changes nothing
    await walk(fake, database, clock, MORNING + timedelta(hours=1), MORNING + timedelta(days=2))
    assert set(each_got(fake, hearth).values()) == {1}
    assert {r.status for r in await outbox_rows(database, KIND_DM)} == {"sent"}
    assert len(await outbox_rows(database, KIND_DM)) == len(NAMES)


async def test_dms_held_by_a_process_that_died_are_sent_once_after_its_lease(
    fake: FakeDiscord, hearth: Hearth, start_bot: StartBot, database: Database, clock: FrozenClock
) -> None:
    bot = await queued_for_the_morning(fake, hearth, start_bot, database, clock)
    await bot.close()
    clock._now = MORNING
    async with database.session() as session:  # another process claims them, then dies
        claimed = await outbox.claim_due(
            session, now=MORNING, owner="died", lease=timedelta(minutes=2), limit=50
        )
    held = sorted(r.target_id for r in claimed if r.kind == KIND_DM)
    assert held == sorted(hearth.members.values())
    assert KIND_SWEEP_ALL in {r.kind for r in claimed}  # the hourly sweep too
    await start_bot()
    assert set(each_got(fake, hearth).values()) == {0}  # still leased to the dead process

    await move_to(fake, database, clock, MORNING + timedelta(minutes=2, seconds=1))
    assert set(each_got(fake, hearth).values()) == {1}
    stops = [MORNING + timedelta(hours=h) for h in (1, 2, 30)]
    await walk(fake, database, clock, *stops)
    assert set(each_got(fake, hearth).values()) == {1}
    assert len(await outbox_rows(database, KIND_DM)) == len(NAMES)


async def test_closed_dms_are_recorded_never_retried_and_shown(
    fake: FakeDiscord, hearth: Hearth, start_bot: StartBot, database: Database, clock: FrozenClock
) -> None:
    alice, bob = hearth["alice"], hearth["bob"]
    bot = await start_bot()
    await set_up(fake, hearth, threshold_days=3)
    await opt_in(fake, hearth, "alice", "bob")  # bob is the control
    await written(fake, bot)
    hearth.world.set_dms_closed(alice)

    quiet = utc(1, 8, 13)
    await move_to(fake, database, clock, quiet)
    assert fake.dm_messages(alice) == []
    assert len(reachouts(fake, bob)) == 1
    [failed] = [r for r in await outbox_rows(database, KIND_DM) if r.target_id == alice]
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.startswith("dms_closed")
    row = await member_row(database, hearth, alice)
    assert row is not None
    assert row.dms_closed_at == quiet

    hearth.world.set_dms_closed(alice, False)  # even once they open, nothing is retried
    stops = [quiet + timedelta(days=d) for d in (1, 31, 91)]
    await walk(fake, database, clock, *stops)
    assert fake.dm_messages(alice) == []
    assert len(reachouts(fake, bob)) == 3  # bob's backoff ran its course meanwhile
    alice_rows = [r for r in await outbox_rows(database, KIND_DM) if r.target_id == alice]
    # Nothing new for her (and the failed row itself was purged after a week).
    assert [r.id for r in alice_rows if r.id != failed.id] == []

    shown = await reply(fake, hearth, alice, "reachout show")
    assert "your DMs were closed when Kinfolk last tried" in shown
    assert "**/reachout on** tries again" in shown
