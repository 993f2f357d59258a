"""Participation tracking and gentle reach-out, on both backends: the server's settings, the
activity tracker, asking for consent once, the sweep (once per quiet spell and stage, even run
twice or concurrently), buddy nudges, quiet hours in the member's timezone, the outbox kinds
(DM, buddy nudge, sweep, digest) looking again when they fall due, answers, and pacing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import (
    ActivityDay,
    AuditEntry,
    MemberActivity,
    OutboxMessage,
    ReachoutSettings,
)
from bot.db.repositories import buddies as buddy_repo
from bot.db.repositories import checkins as checkin_repo
from bot.db.repositories import guild_settings
from bot.db.repositories import reachout as repo
from bot.db.repositories.reachout import DayCounts, DigestCounts, Seen
from bot.domain.checkins import InvalidInput
from bot.jobs import pacing
from bot.jobs.delivery import (
    PROBLEM_DMS_CLOSED,
    PROBLEM_NO_ACCESS,
    Delivery,
    Done,
    NotYet,
    QueuedMessage,
    Sent,
    Skip,
    Undeliverable,
)
from bot.jobs.outbox import OutboxDispatcher
from bot.jobs.pacing import Pacer
from bot.services.buddies import membership, rounds
from bot.services.reachout import answers, consent, digest, handlers, settings, sweep
from bot.services.reachout.activity import CHECKIN, COMMAND, MESSAGE, REACTION, ActivityTracker
from bot.services.reachout.texts import ANSWERS, BUDDY_NUDGE, DEFAULT_MESSAGE, MESSAGE_MAX_CHARS
from tests.helpers import FrozenClock, count_units
from tests.jobs.ladder_support import FakeSender

GUILD, OTHER_GUILD, MOD = 100, 101, 9
CHANNEL, BUDDY_CHANNEL, DIGEST_CHANNEL = 40, 41, 42
A, B, C, D, E, F = 201, 202, 203, 204, 205, 206
REACHOUT_KINDS = (sweep.KIND_DM, sweep.KIND_BUDDY)


# --- helpers -----------------------------------------------------------------------------------


async def _enable(db: Database, clock: FrozenClock, **values: Any) -> settings.ReachoutConfig:
    values.setdefault("enabled", True)
    return await settings.configure(db, clock, GUILD, actor_id=MOD, **values)


async def _seen(db: Database, user: int, at: datetime, **values: Any) -> None:
    """A member last seen at `at` (a new row), with other columns set."""
    async with db.session() as session:
        await repo.record_seen(session, [Seen(GUILD, user, at)])
        if values:
            await repo.update_member(session, GUILD, user, now=at, **values)


async def _quiet(
    db: Database, clock: FrozenClock, user: int, days: int = 20, **values: Any
) -> datetime:
    at = clock.now() - timedelta(days=days)
    await _seen(db, user, at, **values)
    return at


async def _member(db: Database, user: int, guild: int = GUILD) -> MemberActivity:
    async with db.session() as session:
        member = await repo.get_member(session, guild, user)
    assert member is not None
    return member


async def _update(db: Database, clock: FrozenClock, user: int, **values: Any) -> None:
    async with db.session() as session:
        await repo.update_member(session, GUILD, user, now=clock.now(), **values)


async def _all(db: Database, model: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.scalars(select(model))).all())


async def _rows(db: Database, *kinds: str) -> list[OutboxMessage]:
    async with db.session() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind.in_(kinds)).order_by(OutboxMessage.id)
        )
        return list(rows.all())


async def _count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _buddies(db: Database, clock: FrozenClock, *users: int) -> None:
    """Put `users` in one running buddy group."""
    async with db.session() as session:
        await buddy_repo.update_settings(session, GUILD, now=clock.now(), channel_id=BUDDY_CHANNEL)
    for user in users:
        await membership.join(db, clock, GUILD, user, roles=[])
    plan = await rounds.start(db, clock, GUILD, 1)
    assert plan.groups == (tuple(sorted(users)),)


async def _timezone(db: Database, clock: FrozenClock, user: int, name: str) -> None:
    async with db.session() as session:
        await checkin_repo.update_profile(session, GUILD, user, now=clock.now(), timezone=name)


async def _server_timezone(db: Database, clock: FrozenClock, name: str) -> None:
    async with db.session() as session:
        await guild_settings.update(session, GUILD, now=clock.now(), timezone=name)


async def _dm_row(db: Database) -> OutboxMessage:
    [row] = await _rows(db, sweep.KIND_DM)
    return row


# --- settings ------------------------------------------------------------------------------


async def test_configure_stores_the_settings_and_queues_the_first_sweep_and_digest(
    db: Database, clock: FrozenClock
) -> None:
    config = await _enable(
        db,
        clock,
        threshold_days=21,
        channels="<#5> <#6>",
        message="  Hello from all of us at {server}.  ",
        not_opted="digest",
        buddy_nudge="before",
        digest_channel_id=DIGEST_CHANNEL,
    )
    assert config == settings.ReachoutConfig(
        guild_id=GUILD,
        enabled=True,
        threshold_days=21,
        channel_ids=(5, 6),
        message="Hello from all of us at {server}.",
        not_opted="digest",
        buddy_nudge="before",
        digest_channel_id=DIGEST_CHANNEL,
    )
    assert await settings.get_config(db, GUILD) == config

    [sweep_row] = await _rows(db, settings.KIND_SWEEP)
    assert (sweep_row.due_at, sweep_row.payload, sweep_row.guild_id) == (
        clock.now(),
        {"version": 1, "slot": clock.now().replace(second=0, microsecond=0).isoformat()},
        GUILD,
    )
    [digest_row] = await _rows(db, settings.KIND_DIGEST)
    # The clock is Monday 5 January 2026 12:00 UTC: the next Monday 09:00 is the 12th.
    assert digest_row.due_at == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    assert digest_row.payload == {"version": 1, "day": "2026-01-12"}
    assert (digest_row.target_type, digest_row.target_id) == ("channel", DIGEST_CHANNEL)

    [entry] = await _all(db, AuditEntry)
    assert (entry.action, entry.actor_id) == ("settings.reachout", MOD)
    assert entry.detail["message"] == "custom"  # the wording itself is not in the log
    assert "Hello" not in str(entry.detail)


async def test_configure_changes_only_what_is_given_and_bumps_the_version(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock, threshold_days=30, channels="<#5>")
    clock.advance(minutes=5)
    config = await settings.configure(db, clock, GUILD, actor_id=MOD, not_opted="buddy")
    assert (config.threshold_days, config.channel_ids, config.not_opted) == (30, (5,), "buddy")
    async with db.session() as session:
        row = await repo.get_settings(session, GUILD)
    assert row is not None
    assert row.version == 2
    versions = sorted(r.payload["version"] for r in await _rows(db, settings.KIND_SWEEP))
    assert versions == [1, 2]


async def test_defaults_when_nothing_was_configured(db: Database) -> None:
    config = await settings.get_config(db, GUILD)
    assert config == settings.ReachoutConfig(GUILD, False, 14, (), None, "nothing", "off", None)


async def test_switched_off_queues_no_jobs(db: Database, clock: FrozenClock) -> None:
    await settings.configure(db, clock, GUILD, actor_id=MOD, enabled=False)
    assert await _rows(db, settings.KIND_SWEEP, settings.KIND_DIGEST) == []


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"threshold_days": 2}, "between 3 and 180"),
        ({"threshold_days": 181}, "between 3 and 180"),
        ({"threshold_days": -14}, "between 3 and 180"),
        ({"channels": "#general"}, "#general"),
        ({"channels": "<#5> and <#6>"}, "“and”"),
        ({"message": "x" * (MESSAGE_MAX_CHARS + 1)}, f"under {MESSAGE_MAX_CHARS}"),
        ({"not_opted": "sometimes"}, "offered choices"),
        ({"buddy_nudge": "always"}, "offered choices"),
        # One bad value among good ones changes nothing either.
        ({"threshold_days": 30, "not_opted": "digest", "channels": "<#x>"}, "<#x>"),
        # A channel of another server (the cog passes the server's channels as known).
        ({"channels": "<#5> <#99>", "known_channels": {5, 6}}, "<#99> isn't a channel"),
    ],
)
async def test_bad_settings_are_refused_and_nothing_changes(
    db: Database, clock: FrozenClock, values: dict[str, Any], match: str
) -> None:
    before = await _enable(db, clock, threshold_days=10, channels="<#7>", message="Hi")
    outbox_before = await _count(db, OutboxMessage)
    audit_before = await _count(db, AuditEntry)
    clock.advance(minutes=1)
    with pytest.raises(InvalidInput, match=match) as error:
        await settings.configure(db, clock, GUILD, actor_id=MOD, enabled=False, **values)
    assert "Nothing was changed" in str(error.value)
    assert await settings.get_config(db, GUILD) == before
    async with db.session() as session:
        row = await repo.get_settings(session, GUILD)
    assert row is not None
    assert row.version == 1
    assert await _count(db, OutboxMessage) == outbox_before
    assert await _count(db, AuditEntry) == audit_before


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"threshold_days": 3}, {"threshold_days": 3}),
        ({"threshold_days": 180}, {"threshold_days": 180}),
        ({"channels": "all"}, {"channel_ids": ()}),
        ({"channels": "  "}, {"channel_ids": ()}),
        ({"channels": "<#8>, 9"}, {"channel_ids": (8, 9)}),
        ({"message": "default"}, {"message": None}),
        ({"message": "   "}, {"message": None}),
        ({"message": "y" * MESSAGE_MAX_CHARS}, {"message": "y" * MESSAGE_MAX_CHARS}),
        ({"digest_channel_id": None}, {"digest_channel_id": None}),
    ],
)
async def test_settings_at_the_limits_are_accepted(
    db: Database, clock: FrozenClock, values: dict[str, Any], expected: dict[str, Any]
) -> None:
    await _enable(db, clock, channels="<#7>", message="Hi", digest_channel_id=DIGEST_CHANNEL)
    config = await settings.configure(db, clock, GUILD, actor_id=MOD, **values)
    for name, value in expected.items():
        assert getattr(config, name) == value


# --- the activity tracker ------------------------------------------------------------------


async def test_the_tracker_ignores_servers_without_reach_out(
    db: Database, clock: FrozenClock
) -> None:
    await settings.configure(db, clock, OTHER_GUILD, actor_id=MOD, enabled=False)
    tracker = ActivityTracker(db, clock)
    assert not await tracker.seen(GUILD, A, MESSAGE, channel_id=CHANNEL)  # never configured
    assert not await tracker.seen(OTHER_GUILD, A, MESSAGE, channel_id=CHANNEL)  # switched off
    assert len(tracker) == 0
    assert await tracker.flush() == 0
    assert await _all(db, MemberActivity) == []
    assert await _all(db, ActivityDay) == []


async def test_the_tracker_counts_only_the_chosen_channels(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock, channels="<#10> <#11>")
    tracker = ActivityTracker(db, clock)
    assert not await tracker.seen(GUILD, A, MESSAGE, channel_id=12)
    assert await tracker.seen(GUILD, B, MESSAGE, channel_id=10)
    assert await tracker.seen(GUILD, B, REACTION, channel_id=11)
    assert await tracker.seen(GUILD, C, COMMAND)  # no channel (a DM command): counts
    assert await tracker.flush() == 2
    assert sorted(m.user_id for m in await _all(db, MemberActivity)) == [B, C]
    [b_day] = await repo_days(db, B)
    assert (b_day.messages, b_day.reactions) == (1, 1)


async def test_every_channel_counts_when_none_are_chosen(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    tracker = ActivityTracker(db, clock)
    assert await tracker.seen(GUILD, A, MESSAGE, channel_id=12345)


async def repo_days(db: Database, user: int) -> list[ActivityDay]:
    async with db.session() as session:
        rows = await session.scalars(
            select(ActivityDay)
            .where(ActivityDay.guild_id == GUILD, ActivityDay.user_id == user)
            .order_by(ActivityDay.day)
        )
        return list(rows.all())


async def test_the_tracker_coalesces_events_into_one_row_per_member_and_day(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    clock.advance(hours=11)  # 23:00 UTC
    tracker = ActivityTracker(db, clock)
    for _ in range(40):
        await tracker.seen(GUILD, A, MESSAGE, channel_id=CHANNEL)
    for _ in range(7):
        await tracker.seen(GUILD, A, REACTION, channel_id=CHANNEL)
    await tracker.seen(GUILD, B, CHECKIN)
    clock.advance(hours=2)  # 01:00 UTC the next day
    for _ in range(3):
        await tracker.seen(GUILD, A, MESSAGE, channel_id=CHANNEL)
    await tracker.seen(GUILD, A, COMMAND)
    last = clock.now()
    assert len(tracker) == 2

    assert await tracker.flush() == 2
    assert len(tracker) == 0
    members = {m.user_id: m for m in await _all(db, MemberActivity)}
    assert set(members) == {A, B}
    assert members[A].last_seen_at == last
    assert members[B].last_seen_at == last - timedelta(hours=2)
    days = [
        (d.day, d.messages, d.reactions, d.checkins, d.commands) for d in await repo_days(db, A)
    ]
    assert days == [(date(2026, 1, 5), 40, 7, 0, 0), (date(2026, 1, 6), 3, 0, 0, 1)]
    [b_day] = await repo_days(db, B)
    assert (b_day.day, b_day.checkins) == (date(2026, 1, 5), 1)

    # A second flush adds to the same day's row, never a second row.
    await tracker.seen(GUILD, A, MESSAGE, channel_id=CHANNEL)
    assert await tracker.flush() == 1
    days = [(d.day, d.messages) for d in await repo_days(db, A)]
    assert days == [(date(2026, 1, 5), 40), (date(2026, 1, 6), 4)]
    assert await tracker.flush() == 0


async def test_last_seen_never_moves_back(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    later = clock.now()
    tracker = ActivityTracker(db, clock)
    await tracker.seen(GUILD, A, MESSAGE)
    await tracker.flush()

    # An event stamped earlier (another process's clock, or a late flush) changes nothing.
    clock.advance(hours=-3)
    await tracker.seen(GUILD, A, MESSAGE)
    await tracker.flush()
    assert (await _member(db, A)).last_seen_at == later

    # In memory too: the later of two events wins.
    clock.advance(hours=5)
    newest = clock.now()
    await tracker.seen(GUILD, A, MESSAGE)
    clock.advance(hours=-4)
    await tracker.seen(GUILD, A, MESSAGE)
    await tracker.flush()
    assert (await _member(db, A)).last_seen_at == newest
    assert sum(d.messages for d in await repo_days(db, A)) == 4


async def test_being_seen_again_clears_having_left(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    await _quiet(db, clock, A)
    await answers.member_left(db, clock, GUILD, A)
    assert (await _member(db, A)).left_at == clock.now()
    tracker = ActivityTracker(db, clock)
    await tracker.seen(GUILD, A, MESSAGE)
    await tracker.flush()
    member = await _member(db, A)
    assert (member.left_at, member.last_seen_at) == (None, clock.now())


async def test_a_failed_flush_keeps_the_counts_for_the_next(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _enable(db, clock)
    tracker = ActivityTracker(db, clock)
    for _ in range(3):
        await tracker.seen(GUILD, A, MESSAGE)
    first = clock.now()

    real = repo.add_day_counts

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(repo, "add_day_counts", broken)
    with pytest.raises(ConnectionError):
        await tracker.flush()
    # The whole unit of work was rolled back, and nothing was lost in memory.
    assert await _all(db, MemberActivity) == []
    assert len(tracker) == 1

    clock.advance(minutes=1)
    await tracker.seen(GUILD, A, REACTION)
    await tracker.seen(GUILD, B, MESSAGE)
    monkeypatch.setattr(repo, "add_day_counts", real)
    assert await tracker.flush() == 2
    [day] = await repo_days(db, A)
    assert (day.messages, day.reactions) == (3, 1)
    assert (await _member(db, A)).last_seen_at == first + timedelta(minutes=1)
    assert len(tracker) == 0


async def test_the_tracker_reads_changed_settings_after_forget(
    db: Database, clock: FrozenClock
) -> None:
    tracker = ActivityTracker(db, clock)
    assert not await tracker.seen(GUILD, A, MESSAGE)
    await _enable(db, clock)
    tracker.forget(GUILD)
    assert await tracker.seen(GUILD, A, MESSAGE)
    await settings.configure(db, clock, GUILD, actor_id=MOD, channels="<#10>")
    tracker.forget(GUILD)
    assert not await tracker.seen(GUILD, A, MESSAGE, channel_id=11)


# --- consent -------------------------------------------------------------------------------


async def test_ask_once_only_where_reach_out_is_on(db: Database, clock: FrozenClock) -> None:
    assert not await consent.ask_once(db, clock, GUILD, A)
    await settings.configure(db, clock, GUILD, actor_id=MOD, enabled=False)
    assert not await consent.ask_once(db, clock, GUILD, A)
    assert await _all(db, MemberActivity) == []  # not asked, nothing recorded


async def test_ask_once_is_true_exactly_once_per_member(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    assert await consent.ask_once(db, clock, GUILD, A)
    assert (await _member(db, A)).asked_at == clock.now()
    clock.advance(days=1)
    assert not await consent.ask_once(db, clock, GUILD, A)
    assert not await consent.ask_once(db, clock, GUILD, A)
    assert await consent.ask_once(db, clock, GUILD, B)
    # A member who chose already (e.g. with /reachout) is not asked either.
    await consent.set_consent(db, clock, GUILD, C, yes=False)
    assert not await consent.ask_once(db, clock, GUILD, C)


async def test_ask_once_asked_concurrently_is_true_once(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    results = await asyncio.gather(*(consent.ask_once(db, clock, GUILD, A) for _ in range(6)))
    assert sorted(results) == [False] * 5 + [True]


async def test_consent_yes_no_and_dms_reopened(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    await consent.set_consent(db, clock, GUILD, A, yes=True)
    member = await _member(db, A)
    assert (member.dm_consent, member.asked_at, member.consent_changed_at) == (
        "yes",
        clock.now(),
        clock.now(),
    )
    await _update(db, clock, A, dms_closed_at=clock.now())
    clock.advance(days=2)
    await consent.set_consent(db, clock, GUILD, A, yes=False)
    member = await _member(db, A)
    assert (member.dm_consent, member.consent_changed_at) == ("no", clock.now())
    assert member.asked_at == clock.now() - timedelta(days=2)  # first asked, kept
    assert member.dms_closed_at is not None  # "no" does not touch it
    await consent.set_consent(db, clock, GUILD, A, yes=True)
    assert (await _member(db, A)).dms_closed_at is None  # saying yes again re-opens DMs


async def test_quiet_hours_and_status(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock, threshold_days=21)
    await _server_timezone(db, clock, "Europe/Berlin")
    status = await consent.status(db, GUILD, A)
    assert (status.enabled, status.consent, status.quiet_start, status.quiet_end) == (
        True,
        None,
        "22:00",
        "08:00",
    )
    assert (status.timezone, status.threshold_days, status.dms_closed) == (
        "Europe/Berlin",
        21,
        False,
    )
    assert await consent.set_quiet_hours(db, clock, GUILD, A, "11pm", "7:30") == ("23:00", "07:30")
    with pytest.raises(InvalidInput, match="Nothing was changed"):
        await consent.set_quiet_hours(db, clock, GUILD, A, "25:00", "07:00")
    await _timezone(db, clock, A, "Asia/Tokyo")
    status = await consent.status(db, GUILD, A)
    assert (status.quiet_start, status.quiet_end, status.timezone) == (
        "23:00",
        "07:30",
        "Asia/Tokyo",
    )


# --- the sweep: once per spell and stage ---------------------------------------------------


async def test_a_quiet_member_who_opted_in_gets_exactly_one_dm(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    cycle = await _quiet(db, clock, A, dm_consent="yes")
    await _quiet(db, clock, B, days=13, dm_consent="yes")  # not quiet yet

    result = await sweep.sweep_guild(db, clock, GUILD)
    assert result == sweep.SweepResult(candidates=1, dms=1, nudges=0, not_opted=0)
    row = await _dm_row(db)
    assert row.idempotency_key == sweep.dm_key(GUILD, A, cycle, 1)
    assert (row.target_type, row.target_id, row.guild_id, row.status) == (
        "user",
        A,
        GUILD,
        "pending",
    )
    assert row.payload == {"cycle": cycle.isoformat(), "stage": 1}
    assert row.due_at == clock.now()  # 12:00 UTC: not the member's night
    member = await _member(db, A)
    assert (member.cycle, member.stage, member.next_at) == (
        cycle,
        1,
        clock.now() + timedelta(days=30),
    )

    # The same sweep again, and every hour after: nothing more.
    assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 0
    for _ in range(5):
        clock.advance(hours=1)
        assert (await sweep.sweep_guild(db, clock, GUILD)).dms == 0
    assert len(await _rows(db, sweep.KIND_DM)) == 1


async def test_concurrent_sweeps_queue_each_dm_once(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    for user in (A, B, C):
        await _quiet(db, clock, user, dm_consent="yes")
    results = await asyncio.gather(*(sweep.sweep_guild(db, clock, GUILD) for _ in range(4)))
    assert sum(r.dms for r in results) == 3
    rows = await _rows(db, sweep.KIND_DM)
    assert sorted(r.target_id for r in rows) == [A, B, C]
    assert {r.payload["stage"] for r in rows} == {1}


async def test_a_sweep_that_crashes_midway_leaves_nothing_and_the_rerun_queues_each_once(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _enable(db, clock)
    for user in (A, B, C):
        await _quiet(db, clock, user, dm_consent="yes")
    real = sweep.outbox.enqueue_many

    async def crash_after_the_first(session: Any, queued: Any, **kwargs: Any) -> None:
        await real(session, queued[:1], **kwargs)  # one DM written, then the process dies
        raise RuntimeError("the process was killed")

    monkeypatch.setattr(
        sweep,
        "outbox",
        SimpleNamespace(enqueue_many=crash_after_the_first, Queued=sweep.outbox.Queued),
    )
    with pytest.raises(RuntimeError):
        await sweep.sweep_guild(db, clock, GUILD)
    assert await _rows(db, sweep.KIND_DM) == []
    assert {m.stage for m in await _all(db, MemberActivity)} == {0}

    monkeypatch.undo()
    clock.advance(minutes=3)  # the restarted process
    assert (await sweep.sweep_guild(db, clock, GUILD)).dms == 3
    assert sorted(r.target_id for r in await _rows(db, sweep.KIND_DM)) == [A, B, C]


async def test_the_dm_key_stops_a_second_copy_even_if_the_members_state_was_lost(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    await _quiet(db, clock, A, dm_consent="yes")
    await sweep.sweep_guild(db, clock, GUILD)
    await _update(db, clock, A, cycle=None, stage=0, next_at=None)
    clock.advance(minutes=10)
    assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 1
    assert len(await _rows(db, sweep.KIND_DM)) == 1


async def test_the_next_stages_come_only_after_30_then_60_days_then_none(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    cycle = await _quiet(db, clock, A, dm_consent="yes")
    await sweep.sweep_guild(db, clock, GUILD)
    start = clock.now()

    async def stages() -> list[int]:
        return [r.payload["stage"] for r in await _rows(db, sweep.KIND_DM)]

    clock.advance(days=29, hours=23)
    await sweep.sweep_guild(db, clock, GUILD)
    assert await stages() == [1]
    clock.advance(hours=1)
    await sweep.sweep_guild(db, clock, GUILD)
    assert await stages() == [1, 2]
    second = (await _rows(db, sweep.KIND_DM))[1]
    assert second.idempotency_key == sweep.dm_key(GUILD, A, cycle, 2)
    assert second.due_at == start + timedelta(days=30)
    assert (await _member(db, A)).next_at == start + timedelta(days=90)

    clock.advance(days=59, hours=23)
    await sweep.sweep_guild(db, clock, GUILD)
    assert await stages() == [1, 2]
    clock.advance(hours=1)
    await sweep.sweep_guild(db, clock, GUILD)
    assert await stages() == [1, 2, 3]
    member = await _member(db, A)
    assert (member.stage, member.next_at) == (3, None)

    for _ in range(4):  # a year later: still nothing
        clock.advance(days=100)
        assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 0
    assert await stages() == [1, 2, 3]


async def test_active_again_then_quiet_again_starts_over_at_stage_1(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    first_cycle = await _quiet(db, clock, A, dm_consent="yes")
    await sweep.sweep_guild(db, clock, GUILD)

    clock.advance(days=2)
    tracker = ActivityTracker(db, clock)
    await tracker.seen(GUILD, A, MESSAGE, channel_id=CHANNEL)
    await tracker.flush()
    back = clock.now()
    assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 0

    clock.advance(days=13)
    await sweep.sweep_guild(db, clock, GUILD)
    assert len(await _rows(db, sweep.KIND_DM)) == 1
    clock.advance(days=1, hours=1)
    await sweep.sweep_guild(db, clock, GUILD)
    rows = await _rows(db, sweep.KIND_DM)
    assert [r.idempotency_key for r in rows] == [
        sweep.dm_key(GUILD, A, first_cycle, 1),
        sweep.dm_key(GUILD, A, back, 1),
    ]


async def _said_no(db: Database, clock: FrozenClock) -> None:
    await _quiet(db, clock, A, dm_consent="no")


async def _left(db: Database, clock: FrozenClock) -> None:
    await _quiet(db, clock, A, dm_consent="yes")
    await answers.member_left(db, clock, GUILD, A)


async def _paused(db: Database, clock: FrozenClock) -> None:
    await _quiet(db, clock, A, dm_consent="yes")
    await answers.answer(db, clock, GUILD, A, "pause")


async def _stopped(db: Database, clock: FrozenClock) -> None:
    await _quiet(db, clock, A, dm_consent="yes")
    await answers.answer(db, clock, GUILD, A, "stop")


async def _active(db: Database, clock: FrozenClock) -> None:
    await _quiet(db, clock, A, days=3, dm_consent="yes")


@pytest.mark.parametrize("situation", [_said_no, _left, _paused, _stopped, _active])
async def test_members_who_said_no_left_paused_or_are_active_get_nothing(
    db: Database, clock: FrozenClock, situation: Any
) -> None:
    # Even where the server would tell their buddy, and their buddy is active.
    await _enable(db, clock, not_opted="buddy", buddy_nudge="before")
    await _buddies(db, clock, A, B)
    await _seen(db, B, clock.now())
    await situation(db, clock)
    result = await sweep.sweep_guild(db, clock, GUILD)
    assert (result.candidates, result.dms, result.nudges) == (0, 0, 0)
    assert await _rows(db, *REACHOUT_KINDS) == []


async def test_a_pause_ends_and_the_spell_resumes(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    await _paused(db, clock)
    clock.advance(days=29, hours=23)
    assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 0
    clock.advance(hours=1)
    assert (await sweep.sweep_guild(db, clock, GUILD)).dms == 1


@pytest.mark.parametrize("policy", ["nothing", "digest"])
async def test_not_opted_in_nothing_or_digest_queues_no_message(
    db: Database, clock: FrozenClock, policy: str
) -> None:
    await _enable(db, clock, not_opted=policy)
    await _buddies(db, clock, A, B)
    await _seen(db, B, clock.now())  # an active buddy, but the server did not ask for nudges
    await _quiet(db, clock, A)
    await _quiet(db, clock, C, dm_consent="yes", dms_closed_at=clock.now())  # DMs closed
    result = await sweep.sweep_guild(db, clock, GUILD)
    assert result == sweep.SweepResult(candidates=2, dms=0, nudges=0, not_opted=2)
    assert await _rows(db, *REACHOUT_KINDS) == []
    # The spell is recorded all the same: the next sweep has nothing to do for them.
    assert {(m.user_id, m.stage) for m in await _all(db, MemberActivity) if m.user_id != B} == {
        (A, 1),
        (C, 1),
    }
    assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 0


async def test_not_opted_in_buddy_policy_nudges_an_active_buddy_only(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock, not_opted="buddy")
    await _buddies(db, clock, A, B)
    cycle = await _quiet(db, clock, A)
    await _seen(db, B, clock.now() - timedelta(days=1))
    result = await sweep.sweep_guild(db, clock, GUILD)
    assert (result.dms, result.nudges) == (0, 1)
    [nudge] = await _rows(db, *REACHOUT_KINDS)
    assert (nudge.kind, nudge.target_type, nudge.target_id, nudge.due_at) == (
        sweep.KIND_BUDDY,
        "user",
        B,
        clock.now(),
    )
    assert nudge.payload == {"cycle": cycle.isoformat(), "stage": 1, "member": A}


async def test_not_opted_in_buddy_policy_without_an_active_buddy_does_nothing(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock, not_opted="buddy")
    await _buddies(db, clock, A, B, C)
    await _quiet(db, clock, A)
    await _quiet(db, clock, B, days=30)  # both buddies quiet too
    await _quiet(db, clock, C, days=15)
    result = await sweep.sweep_guild(db, clock, GUILD)
    assert (result.candidates, result.nudges, result.dms) == (3, 0, 0)
    assert await _rows(db, *REACHOUT_KINDS) == []


async def test_not_opted_in_buddy_policy_nudges_one_active_buddy_of_a_trio(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock, not_opted="buddy")
    await _buddies(db, clock, A, B, C)
    await _quiet(db, clock, A)
    await _quiet(db, clock, B, days=30)
    await _seen(db, C, clock.now())
    await sweep.sweep_guild(db, clock, GUILD)
    nudges = await _rows(db, sweep.KIND_BUDDY)
    # A's active buddy C is told about A; B's active buddy C about B. Never a quiet buddy.
    assert sorted((n.payload["member"], n.target_id) for n in nudges) == [(A, C), (B, C)]


@pytest.mark.parametrize(
    ("nudge", "buddy_row", "dm_delay"),
    [
        ("off", False, timedelta(0)),
        ("before", True, timedelta(days=3)),
        ("instead", True, None),
    ],
)
async def test_buddy_nudge_with_an_opted_in_member_and_an_active_buddy(
    db: Database, clock: FrozenClock, nudge: str, buddy_row: bool, dm_delay: timedelta | None
) -> None:
    await _enable(db, clock, buddy_nudge=nudge)
    await _buddies(db, clock, A, B)
    await _quiet(db, clock, A, dm_consent="yes")
    await _seen(db, B, clock.now())
    await sweep.sweep_guild(db, clock, GUILD)
    nudges = await _rows(db, sweep.KIND_BUDDY)
    dms = await _rows(db, sweep.KIND_DM)
    assert [(n.target_id, n.due_at) for n in nudges] == ([(B, clock.now())] if buddy_row else [])
    if dm_delay is None:
        assert dms == []
    else:
        assert [(d.target_id, d.due_at) for d in dms] == [(A, clock.now() + dm_delay)]


@pytest.mark.parametrize("nudge", ["before", "instead"])
async def test_buddy_nudge_without_an_active_buddy_sends_the_dm_now(
    db: Database, clock: FrozenClock, nudge: str
) -> None:
    await _enable(db, clock, buddy_nudge=nudge)
    await _buddies(db, clock, A, B)
    await _quiet(db, clock, A, dm_consent="yes")
    await _quiet(db, clock, B, days=15)  # the buddy is quiet too, and not opted in
    await sweep.sweep_guild(db, clock, GUILD)
    assert await _rows(db, sweep.KIND_BUDDY) == []
    assert [(d.target_id, d.due_at) for d in await _rows(db, sweep.KIND_DM)] == [(A, clock.now())]


async def test_the_dm_waits_for_the_end_of_the_members_night_in_their_timezone(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    clock.advance(hours=2)  # Monday 14:00 UTC
    for user in (A, B, C, D, E):
        await _quiet(db, clock, user, dm_consent="yes")
    await _timezone(db, clock, A, "Asia/Tokyo")  # 23:00: night
    await _timezone(db, clock, B, "America/Los_Angeles")  # 06:00: night
    await _timezone(db, clock, D, "Mars/Olympus")  # not a timezone: UTC
    await _update(db, clock, E, quiet_start="13:30", quiet_end="15:15")  # their own hours, UTC
    await sweep.sweep_guild(db, clock, GUILD)
    due = {r.target_id: r.due_at for r in await _rows(db, sweep.KIND_DM)}
    assert due == {
        A: datetime(2026, 1, 5, 23, 0, tzinfo=UTC),  # 08:00 in Tokyo
        B: datetime(2026, 1, 5, 16, 0, tzinfo=UTC),  # 08:00 in Los Angeles
        C: clock.now(),
        D: clock.now(),
        E: datetime(2026, 1, 5, 15, 15, tzinfo=UTC),
    }


async def test_members_without_their_own_timezone_use_the_servers(
    db: Database, clock: FrozenClock
) -> None:
    await _server_timezone(db, clock, "Asia/Tokyo")
    await _enable(db, clock)
    clock.advance(hours=2)  # 23:00 in Tokyo
    await _quiet(db, clock, A, dm_consent="yes")
    await _quiet(db, clock, B, dm_consent="yes")
    await _timezone(db, clock, B, "Europe/London")  # 14:00 there
    await sweep.sweep_guild(db, clock, GUILD)
    due = {r.target_id: r.due_at for r in await _rows(db, sweep.KIND_DM)}
    assert due == {A: datetime(2026, 1, 5, 23, 0, tzinfo=UTC), B: clock.now()}


async def test_a_dm_after_the_buddys_head_start_still_avoids_the_members_night(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock, buddy_nudge="before")
    await _buddies(db, clock, A, B)
    await _quiet(db, clock, A, dm_consent="yes")
    await _timezone(db, clock, A, "Asia/Tokyo")
    clock.advance(hours=2)  # 14:00 UTC: three days on is 23:00 in Tokyo, their night
    await _seen(db, B, clock.now())
    await sweep.sweep_guild(db, clock, GUILD)
    [dm] = await _rows(db, sweep.KIND_DM)
    assert dm.due_at == datetime(2026, 1, 8, 23, 0, tzinfo=UTC)


async def test_the_sweep_does_nothing_where_reach_out_is_off(
    db: Database, clock: FrozenClock
) -> None:
    await _quiet(db, clock, A, dm_consent="yes")
    assert await sweep.sweep_guild(db, clock, GUILD) == sweep.SweepResult()
    await settings.configure(db, clock, GUILD, actor_id=MOD, enabled=False)
    assert await sweep.sweep_guild(db, clock, GUILD) == sweep.SweepResult()
    assert await _rows(db, *REACHOUT_KINDS) == []


async def test_the_sweep_keeps_to_its_server(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    await _quiet(db, clock, A, dm_consent="yes")
    async with db.session() as session:
        await repo.record_seen(session, [Seen(OTHER_GUILD, B, clock.now() - timedelta(days=40))])
        await repo.update_member(session, OTHER_GUILD, B, now=clock.now(), dm_consent="yes")
    await sweep.sweep_guild(db, clock, GUILD)
    assert [r.target_id for r in await _rows(db, sweep.KIND_DM)] == [A]
    assert (await _member(db, B, OTHER_GUILD)).stage == 0


async def test_a_longer_threshold_waits_longer(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock, threshold_days=30)
    await _quiet(db, clock, A, days=20, dm_consent="yes")
    assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 0
    clock.advance(days=10, hours=1)
    assert (await sweep.sweep_guild(db, clock, GUILD)).dms == 1


# --- the DM, looked at again when it falls due ---------------------------------------------


async def _queued_dm(db: Database, clock: FrozenClock, **config: Any) -> QueuedMessage:
    await _enable(db, clock, **config)
    await _quiet(db, clock, A, dm_consent="yes")
    await sweep.sweep_guild(db, clock, GUILD)
    return QueuedMessage.from_row(await _dm_row(db))


async def test_what_a_dm_reads_comes_in_one_row_whatever_exists(
    db: Database, clock: FrozenClock
) -> None:
    async def context() -> repo.DmContext:
        async with db.read() as session:
            return await repo.dm_context(session, GUILD, A)

    # Nothing set up, nobody seen: still one row, all of it empty.
    assert await context() == repo.DmContext(None, None, None, None, None)
    await _enable(db, clock, message="We miss you")
    await _server_timezone(db, clock, "Europe/Paris")
    found = await context()
    assert (found.enabled, found.message, found.member, found.server_timezone) == (
        True,
        "We miss you",
        None,
        "Europe/Paris",
    )
    seen = await _quiet(db, clock, A, dm_consent="yes", quiet_start="22:00")
    await _quiet(db, clock, B, dm_consent="no")  # another member's row is not A's
    await _timezone(db, clock, A, "Asia/Tokyo")
    found = await context()
    assert found.member_timezone == "Asia/Tokyo"
    assert found.member is not None
    assert (found.member.user_id, found.member.last_seen_at, found.member.dm_consent) == (
        A,
        seen,
        "yes",
    )
    assert (found.member.quiet_start, found.member.left_at) == ("22:00", None)
    await _switched_off(db, clock)
    assert (await context()).enabled is False


async def test_the_dm_is_rendered_with_the_answers(db: Database, clock: FrozenClock) -> None:
    message = await _queued_dm(db, clock)
    prepared = await handlers.DmHandler(db, clock).prepare(message)
    assert prepared == Delivery(
        target_type="user",
        target_id=A,
        content=DEFAULT_MESSAGE,
        view=handlers.ANSWERS_VIEW,
        view_args={"guild_id": GUILD},
        server_name_of=GUILD,
        dm_channel_id=None,
    )


async def test_the_dm_uses_the_servers_own_words(db: Database, clock: FrozenClock) -> None:
    message = await _queued_dm(db, clock, message="Hey, we miss you at {server}!")
    prepared = await handlers.DmHandler(db, clock).prepare(message)
    assert isinstance(prepared, Delivery)
    assert prepared.content == "Hey, we miss you at {server}!"


async def _became_active(db: Database, clock: FrozenClock) -> None:
    tracker = ActivityTracker(db, clock)
    await tracker.seen(GUILD, A, MESSAGE)
    await tracker.flush()


async def _switched_off(db: Database, clock: FrozenClock) -> None:
    await settings.configure(db, clock, GUILD, actor_id=MOD, enabled=False)


async def _dms_closed(db: Database, clock: FrozenClock) -> None:
    await _update(db, clock, A, dms_closed_at=clock.now())


async def _withdrew(db: Database, clock: FrozenClock) -> None:
    await consent.set_consent(db, clock, GUILD, A, yes=False)


async def _answer_stop(db: Database, clock: FrozenClock) -> None:
    await answers.answer(db, clock, GUILD, A, "stop")


async def _answer_pause(db: Database, clock: FrozenClock) -> None:
    await answers.answer(db, clock, GUILD, A, "pause")


async def _member_left(db: Database, clock: FrozenClock) -> None:
    await answers.member_left(db, clock, GUILD, A)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_became_active, "active since"),
        (_answer_stop, "no more"),
        (_withdrew, "no more"),
        (_answer_pause, "paused"),
        (_member_left, "left the server"),
        (_switched_off, "switched off"),
        (_dms_closed, "not opted in"),
    ],
)
async def test_the_dm_is_skipped_when_things_changed_since_the_sweep(
    db: Database, clock: FrozenClock, change: Any, reason: str
) -> None:
    message = await _queued_dm(db, clock)
    clock.advance(hours=1)
    await change(db, clock)
    prepared = await handlers.DmHandler(db, clock).prepare(message)
    assert isinstance(prepared, Skip)
    assert reason in prepared.reason


async def test_the_dm_of_a_member_whose_data_was_deleted_is_skipped(
    db: Database, clock: FrozenClock
) -> None:
    message = await _queued_dm(db, clock)
    async with db.session() as session:
        member = await repo.get_member(session, GUILD, A)
        await session.delete(member)
    prepared = await handlers.DmHandler(db, clock).prepare(message)
    assert isinstance(prepared, Skip)
    assert "deleted" in prepared.reason


async def test_the_dm_waits_inside_the_members_quiet_hours(
    db: Database, clock: FrozenClock
) -> None:
    message = await _queued_dm(db, clock)
    handler = handlers.DmHandler(db, clock)
    clock.advance(hours=11)  # 23:00 UTC, the server's (and so the member's) timezone
    assert await handler.prepare(message) == NotYet("the member's quiet hours", timedelta(hours=9))

    await _timezone(db, clock, A, "America/Los_Angeles")  # 15:00 there
    assert isinstance(await handler.prepare(message), Delivery)
    await _timezone(db, clock, A, "Asia/Tokyo")  # 08:00 there: the night just ended
    assert isinstance(await handler.prepare(message), Delivery)
    clock.advance(minutes=-1)
    assert await handler.prepare(message) == NotYet(
        "the member's quiet hours", timedelta(minutes=1)
    )


async def test_closed_dms_are_recorded_and_never_retried(db: Database, clock: FrozenClock) -> None:
    message = await _queued_dm(db, clock)
    handler = handlers.DmHandler(db, clock)
    problem = Undeliverable(PROBLEM_DMS_CLOSED, "Cannot send messages to this user")
    assert await handler.on_undeliverable(message, problem) is None
    assert (await _member(db, A)).dms_closed_at == clock.now()
    assert (await consent.status(db, GUILD, A)).dms_closed

    # The next stage is not a DM any more: they are treated as not opted in.
    clock.advance(days=30)
    result = await sweep.sweep_guild(db, clock, GUILD)
    assert (result.dms, result.not_opted) == (0, 1)


async def test_other_refusals_do_not_mark_dms_closed(db: Database, clock: FrozenClock) -> None:
    message = await _queued_dm(db, clock)
    problem = Undeliverable(PROBLEM_NO_ACCESS, "Missing Access")
    assert await handlers.DmHandler(db, clock).on_undeliverable(message, problem) is None
    assert (await _member(db, A)).dms_closed_at is None


async def test_a_sent_dm_is_remembered_with_its_channel(db: Database, clock: FrozenClock) -> None:
    message = await _queued_dm(db, clock)
    handler = handlers.DmHandler(db, clock)
    clock.advance(minutes=2)
    await handler.on_sent(message, Sent(channel_id=777, message_id=888))
    member = await _member(db, A)
    assert (member.last_reached_at, member.dm_channel_id) == (clock.now(), 777)
    prepared = await handler.prepare(message)
    assert isinstance(prepared, Delivery)
    assert prepared.dm_channel_id == 777


async def test_a_dm_sent_as_the_member_was_erased_records_nothing(
    db: Database, clock: FrozenClock
) -> None:
    """`/privacy delete` between the send and its follow-up: the follow-up brings no row
    back and leaves the other members alone."""
    message = await _queued_dm(db, clock)
    await _quiet(db, clock, B, dm_consent="yes")
    async with db.session() as session:
        await session.delete(await repo.get_member(session, GUILD, A))
    await handlers.DmHandler(db, clock).on_sent(message, Sent(channel_id=777, message_id=888))
    async with db.read() as session:
        assert await repo.get_member(session, GUILD, A) is None
    other = await _member(db, B)
    assert (other.last_reached_at, other.dm_channel_id) == (None, None)


async def test_sweep_and_dm_through_the_outbox_dispatcher(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)
    await _quiet(db, clock, A, dm_consent="yes")
    await _quiet(db, clock, B, dm_consent="yes")
    sender = FakeSender()
    sender.answer(
        lambda d: d.target_id == B, Undeliverable(PROBLEM_DMS_CLOSED, "Cannot send messages")
    )
    dispatcher = OutboxDispatcher(db, clock, sender, handlers.handlers(db, clock))
    await dispatcher.run_once()  # the sweep
    assert sender.take() == []
    await dispatcher.run_once()  # the DMs
    [to_a, to_b] = sorted(sender.take(), key=lambda d: d.target_id)
    assert (to_a.target_id, to_a.view, to_a.nonce is not None) == (A, handlers.ANSWERS_VIEW, True)
    assert to_b.target_id == B
    status = {(r.kind, r.target_id): r for r in await _rows(db, *REACHOUT_KINDS)}
    assert status[(sweep.KIND_DM, A)].status == "sent"
    assert status[(sweep.KIND_DM, B)].status == "failed"
    assert (status[(sweep.KIND_DM, B)].last_error or "").startswith(PROBLEM_DMS_CLOSED)
    assert (await _member(db, A)).last_reached_at == clock.now()
    assert (await _member(db, B)).dms_closed_at == clock.now()
    [done] = await _rows(db, settings.KIND_SWEEP)
    [hourly] = await _rows(db, sweep.KIND_SWEEP_ALL)
    # The server's own sweep ran; the hourly sweep of every server is queued on the hour.
    assert (done.status, hourly.status) == ("sent", "pending")
    assert hourly.due_at > clock.now()
    assert hourly.due_at.minute == 0
    clock.advance(minutes=30)
    await dispatcher.run_once()
    assert sender.take() == []  # nothing retried


async def _a_dm_queued_for_a_dispatcher(
    db: Database, clock: FrozenClock
) -> tuple[FakeSender, OutboxDispatcher]:
    """Reach-out on, member A quiet and opted in, and a dispatcher that has run the sweep:
    A's DM is queued for its next pass."""
    await _enable(db, clock)
    await _quiet(db, clock, A, dm_consent="yes")
    sender = FakeSender()
    dispatcher = OutboxDispatcher(db, clock, sender, handlers.handlers(db, clock))
    await dispatcher.run_once()  # the sweep
    return sender, dispatcher


async def test_a_dm_is_recorded_and_marked_sent_in_one_unit_of_work(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, dispatcher = await _a_dm_queued_for_a_dispatcher(db, clock)
    opened = count_units(db, monkeypatch)
    await dispatcher.run_once()  # the DM: the claim, then the follow-up with the mark
    monkeypatch.undo()
    [dm] = sender.take()
    assert dm.target_id == A
    assert len(opened) == 2  # (prepare only reads: not a unit of work)
    [row] = await _rows(db, sweep.KIND_DM)
    assert (row.status, row.sent_at) == ("sent", clock.now())
    member = await _member(db, A)
    assert (member.last_reached_at, member.dm_channel_id) == (clock.now(), A)


async def test_a_dm_whose_follow_up_fails_is_still_marked_sent_and_never_sent_twice(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, dispatcher = await _a_dm_queued_for_a_dispatcher(db, clock)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the follow-up broke")

    monkeypatch.setattr(repo, "mark_reached", broken)
    await dispatcher.run_once()
    monkeypatch.undo()
    assert [d.target_id for d in sender.take()] == [A]
    [row] = await _rows(db, sweep.KIND_DM)
    assert row.status == "sent"
    assert (await _member(db, A)).last_reached_at is None  # the follow-up's write rolled back
    for _ in range(3):
        clock.advance(minutes=10)
        await dispatcher.run_once()
    assert sender.take() == []


# --- the buddy nudge -----------------------------------------------------------------------


async def _queued_nudge(db: Database, clock: FrozenClock) -> QueuedMessage:
    await _enable(db, clock, not_opted="buddy")
    await _buddies(db, clock, A, B)
    await _quiet(db, clock, A)
    await _seen(db, B, clock.now())
    await sweep.sweep_guild(db, clock, GUILD)
    [row] = await _rows(db, sweep.KIND_BUDDY)
    return QueuedMessage.from_row(row)


async def test_the_buddy_nudge_names_the_quiet_member(db: Database, clock: FrozenClock) -> None:
    message = await _queued_nudge(db, clock)
    handler = handlers.BuddyNudgeHandler(db, clock)
    prepared = await handler.prepare(message)
    assert prepared == Delivery(
        target_type="user",
        target_id=B,
        content=BUDDY_NUDGE.replace("{member}", str(A)),
        server_name_of=GUILD,
        dm_channel_id=None,
    )
    assert f"<@{A}>" in (prepared.content or "")
    await handler.on_sent(message, Sent(channel_id=5, message_id=6))
    assert (await _member(db, A)).last_nudged_at == clock.now()


async def test_the_buddy_nudge_waits_for_the_buddys_day(db: Database, clock: FrozenClock) -> None:
    message = await _queued_nudge(db, clock)
    await _timezone(db, clock, B, "Asia/Tokyo")
    clock.advance(hours=2)  # 23:00 in Tokyo
    prepared = await handlers.BuddyNudgeHandler(db, clock).prepare(message)
    assert prepared == NotYet("the member's quiet hours", timedelta(hours=9))


async def test_the_buddy_nudge_is_skipped_when_they_are_no_longer_buddies(
    db: Database, clock: FrozenClock
) -> None:
    message = await _queued_nudge(db, clock)
    assert await membership.leave(db, clock, GUILD, B)
    prepared = await handlers.BuddyNudgeHandler(db, clock).prepare(message)
    assert isinstance(prepared, Skip)
    assert "no longer buddies" in prepared.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [(_became_active, "active since"), (_answer_stop, "no more"), (_member_left, "left")],
)
async def test_the_buddy_nudge_is_skipped_when_the_member_changed(
    db: Database, clock: FrozenClock, change: Any, reason: str
) -> None:
    message = await _queued_nudge(db, clock)
    clock.advance(minutes=5)
    await change(db, clock)
    prepared = await handlers.BuddyNudgeHandler(db, clock).prepare(message)
    assert isinstance(prepared, Skip)
    assert reason in prepared.reason


async def test_the_buddy_nudge_is_skipped_when_the_buddy_left(
    db: Database, clock: FrozenClock
) -> None:
    message = await _queued_nudge(db, clock)
    async with db.session() as session:
        await repo.mark_left(session, GUILD, B, now=clock.now())
    prepared = await handlers.BuddyNudgeHandler(db, clock).prepare(message)
    assert isinstance(prepared, Skip)
    assert "buddy left" in prepared.reason


# --- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["busy", "checkin", "talk"])
async def test_answers_that_are_only_recorded(
    db: Database, clock: FrozenClock, choice: str
) -> None:
    await _queued_dm(db, clock)
    clock.advance(hours=3)
    await answers.answer(db, clock, GUILD, A, choice)
    member = await _member(db, A)
    assert (member.last_answer, member.last_answer_at) == (choice, clock.now())
    assert (member.dm_consent, member.paused_until, member.stage) == ("yes", None, 1)
    # The spell goes on as before: the next reach-out after the 30-day gap.
    clock.advance(days=30)
    assert (await sweep.sweep_guild(db, clock, GUILD)).dms == 1


async def test_answer_pause_holds_reach_outs_for_a_month(db: Database, clock: FrozenClock) -> None:
    await _queued_dm(db, clock)
    clock.advance(days=2)
    await answers.answer(db, clock, GUILD, A, "pause")
    paused_at = clock.now()
    member = await _member(db, A)
    assert (member.last_answer, member.paused_until) == ("pause", paused_at + timedelta(days=30))
    clock.advance(days=28)  # the 30-day gap is over, the pause is not
    assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 0
    clock.advance(days=2)
    assert (await sweep.sweep_guild(db, clock, GUILD)).dms == 1


async def test_answer_stop_ends_reach_outs(db: Database, clock: FrozenClock) -> None:
    await _queued_dm(db, clock)
    clock.advance(hours=1)
    await answers.answer(db, clock, GUILD, A, "stop")
    member = await _member(db, A)
    assert (member.dm_consent, member.consent_changed_at, member.last_answer) == (
        "no",
        clock.now(),
        "stop",
    )
    for _ in range(4):
        clock.advance(days=45)
        assert (await sweep.sweep_guild(db, clock, GUILD)).candidates == 0
    assert len(await _rows(db, *REACHOUT_KINDS)) == 1


async def test_an_unknown_answer_is_refused_and_nothing_recorded(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    with pytest.raises(ValueError, match="unknown answer"):
        await answers.answer(db, clock, GUILD, A, "maybe")
    assert await _all(db, MemberActivity) == []


def test_every_answer_has_a_label() -> None:
    assert set(ANSWERS) == {"busy", "checkin", "talk", "pause", "stop"}
    assert all(label.strip() for label in ANSWERS.values())


# --- the weekly digest ---------------------------------------------------------------------


async def _digest_population(db: Database, clock: FrozenClock) -> None:
    now = clock.now()
    await _quiet(db, clock, A, days=40)  # quiet, not opted in, the longest
    await _quiet(db, clock, B, days=20)  # quiet, not opted in
    await _quiet(db, clock, C, days=20, dm_consent="yes", last_reached_at=now - timedelta(days=2))
    await _quiet(db, clock, D, days=20, dm_consent="no", last_answer_at=now - timedelta(days=1))
    await _quiet(db, clock, E, days=25, last_reached_at=now - timedelta(days=8))  # last week
    await _quiet(db, clock, F, days=20)
    await answers.member_left(db, clock, GUILD, F)  # left: neither counted nor listed
    await _seen(db, 300, now - timedelta(days=1), last_nudged_at=now - timedelta(days=3))
    await _seen(db, 301, now - timedelta(days=5))  # not quiet


async def test_digest_counts(db: Database, clock: FrozenClock) -> None:
    await _digest_population(db, clock)
    async with db.session() as session:
        counts = await repo.digest_counts(
            session,
            GUILD,
            cutoff=clock.now() - timedelta(days=14),
            since=clock.now() - timedelta(days=7),
            list_limit=50,
        )
        limited = await repo.digest_counts(
            session,
            GUILD,
            cutoff=clock.now() - timedelta(days=14),
            since=clock.now() - timedelta(days=7),
            list_limit=2,
        )
    assert counts == DigestCounts(quiet=5, reached=1, nudged=1, answered=1, not_opted=[A, E, B])
    assert limited.not_opted == [A, E]


def test_render_counts_only_without_the_list() -> None:
    counts = DigestCounts(quiet=5, reached=2, nudged=1, answered=3, not_opted=[A, B])
    text = digest.render(counts, threshold_days=21, listed=False)
    assert "quiet for 21+ days: **5**" in text
    assert "Reached by a DM this week: **2**" in text
    assert "buddy got a nudge this week: **1**" in text
    assert "Answered this week: **3**" in text
    assert "<@" not in text
    assert str(A) not in text


def test_render_lists_the_not_opted_in_when_asked() -> None:
    counts = DigestCounts(quiet=5, reached=2, nudged=1, answered=3, not_opted=[A, B])
    text = digest.render(counts, threshold_days=14, listed=True)
    assert text.endswith(f"say hello? <@{A}> <@{B}>")
    assert "the first" not in text
    empty = digest.render(DigestCounts(0, 0, 0, 0, []), threshold_days=14, listed=True)
    assert "No quiet members who haven't opted in to DMs." in empty
    assert "<@" not in empty
    exactly = DigestCounts(60, 0, 0, 0, list(range(1, digest.LIST_LIMIT + 1)))
    assert "the first" not in digest.render(exactly, threshold_days=14, listed=True)
    more = DigestCounts(60, 0, 0, 0, list(range(1, digest.LIST_LIMIT + 2)))
    text = digest.render(more, threshold_days=14, listed=True)
    assert f"(the first {digest.LIST_LIMIT})" in text
    assert f"<@{digest.LIST_LIMIT}>" in text
    assert f"<@{digest.LIST_LIMIT + 1}>" not in text


async def _digest_message(db: Database) -> QueuedMessage:
    rows = await _rows(db, settings.KIND_DIGEST)
    return QueuedMessage.from_row(rows[-1])


@pytest.mark.parametrize(("policy", "listed"), [("digest", True), ("nothing", False)])
async def test_the_digest_is_posted_with_the_list_only_for_policy_digest(
    db: Database, clock: FrozenClock, policy: str, listed: bool
) -> None:
    await _enable(db, clock, not_opted=policy, digest_channel_id=DIGEST_CHANNEL)
    await _digest_population(db, clock)
    message = await _digest_message(db)
    clock.advance(days=6, hours=21)  # Monday 12 January, 09:00 UTC
    prepared = await digest.DigestHandler(db, clock).prepare(message)
    assert isinstance(prepared, Delivery)
    assert (prepared.target_type, prepared.target_id) == ("channel", DIGEST_CHANNEL)
    assert "quiet for 14+ days: **5**" in (prepared.content or "")
    assert (f"<@{A}> <@{E}> <@{B}>" in (prepared.content or "")) is listed
    assert ("<@" in (prepared.content or "")) is listed
    # The next Monday's digest is queued, once, however often this one is prepared.
    await digest.DigestHandler(db, clock).prepare(message)
    days = [r.payload["day"] for r in await _rows(db, settings.KIND_DIGEST)]
    assert days == ["2026-01-12", "2026-01-19"]


async def test_the_digest_follows_the_servers_timezone(db: Database, clock: FrozenClock) -> None:
    await _server_timezone(db, clock, "Asia/Tokyo")
    await _enable(db, clock, digest_channel_id=DIGEST_CHANNEL)
    [row] = await _rows(db, settings.KIND_DIGEST)
    # Monday 12:00 UTC is 21:00 in Tokyo: the next Monday 09:00 there is 00:00 UTC on the 12th.
    assert row.due_at == datetime(2026, 1, 12, 0, 0, tzinfo=UTC)


async def test_a_stale_or_switched_off_digest_is_skipped(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock, digest_channel_id=DIGEST_CHANNEL)
    old = await _digest_message(db)
    await settings.configure(db, clock, GUILD, actor_id=MOD, threshold_days=20)
    new = await _digest_message(db)
    assert new.payload["version"] == old.payload["version"] + 1
    handler = digest.DigestHandler(db, clock)
    stale = await handler.prepare(old)
    assert isinstance(stale, Skip)
    assert "settings changed" in stale.reason
    await settings.configure(db, clock, GUILD, actor_id=MOD, digest_channel_id=None)
    off = await handler.prepare(await _digest_message(db))
    assert isinstance(off, Skip)
    assert "switched off" in off.reason
    await settings.configure(
        db, clock, GUILD, actor_id=MOD, enabled=False, digest_channel_id=DIGEST_CHANNEL
    )
    off = await handler.prepare(await _digest_message(db))
    assert isinstance(off, Skip)
    assert "switched off" in off.reason


async def test_a_digest_days_late_is_skipped_but_the_next_is_queued(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock, digest_channel_id=DIGEST_CHANNEL)
    message = await _digest_message(db)
    clock.advance(days=9, hours=21)  # Thursday 15 January
    prepared = await digest.DigestHandler(db, clock).prepare(message)
    assert isinstance(prepared, Skip)
    assert "days late" in prepared.reason
    days = [r.payload["day"] for r in await _rows(db, settings.KIND_DIGEST)]
    assert days == ["2026-01-12", "2026-01-19"]


# --- the sweep as an outbox row ------------------------------------------------------------


async def _sweep_message(db: Database) -> QueuedMessage:
    return QueuedMessage.from_row((await _rows(db, settings.KIND_SWEEP))[-1])


async def test_a_servers_own_sweep_sweeps_it_and_sees_the_hourly_sweep_queued(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    await _quiet(db, clock, A, dm_consent="yes")
    message = await _sweep_message(db)
    prepared = await sweep.SweepHandler(db, clock).prepare(message)
    assert isinstance(prepared, Done)
    assert "1 DMs" in prepared.reason
    assert len(await _rows(db, sweep.KIND_DM)) == 1
    # No successor of its own: the hourly sweep of every server takes it from here.
    assert [(r.due_at, r.payload) for r in await _rows(db, settings.KIND_SWEEP)] == [
        (clock.now(), {"version": 1, "slot": clock.now().isoformat()})
    ]
    [hourly] = await _rows(db, sweep.KIND_SWEEP_ALL)
    assert clock.now().minute == 0  # 12:00: the sweep of every server at 13:00
    assert hourly.due_at == clock.now() + timedelta(hours=1)


async def test_the_sweep_handler_skips_stale_versions_and_switched_off_servers(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    await _quiet(db, clock, A, dm_consent="yes")
    old = await _sweep_message(db)
    clock.advance(minutes=2)
    await settings.configure(db, clock, GUILD, actor_id=MOD, threshold_days=10)
    handler = sweep.SweepHandler(db, clock)
    stale = await handler.prepare(old)
    assert isinstance(stale, Skip)
    assert "settings changed" in stale.reason
    assert await _rows(db, sweep.KIND_DM) == []  # the stale one did not sweep
    assert [r.payload["version"] for r in await _rows(db, settings.KIND_SWEEP)] == [1, 2]

    current = await _sweep_message(db)
    await settings.configure(db, clock, GUILD, actor_id=MOD, enabled=False)
    off = await handler.prepare(current)
    assert isinstance(off, Skip)
    assert "switched off" in off.reason
    assert await _rows(db, sweep.KIND_DM) == []
    assert [r.payload["version"] for r in await _rows(db, settings.KIND_SWEEP)] == [1, 2]


async def _hourly_message(db: Database, clock: FrozenClock) -> QueuedMessage:
    """The hourly sweep's row that falls due next, with the clock moved to it."""
    assert await sweep.at_start(db, clock)
    row = [r for r in await _rows(db, sweep.KIND_SWEEP_ALL) if r.status == "pending"][-1]
    clock.advance_to(row.due_at)
    return QueuedMessage.from_row(row)


async def test_the_first_hourly_sweep_after_midnight_forgets_activity_days_after_90_days(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    clock.advance_to(clock.now().replace(hour=23, minute=30))
    today = (clock.now() + timedelta(days=1)).date()
    async with db.session() as session:
        await repo.add_day_counts(
            session,
            [
                DayCounts(GUILD, A, today - timedelta(days=91), {MESSAGE: 1}),
                DayCounts(GUILD, A, today - timedelta(days=90), {MESSAGE: 2}),
                DayCounts(GUILD, A, today, {MESSAGE: 3}),
                DayCounts(OTHER_GUILD, A, today - timedelta(days=200), {MESSAGE: 4}),
            ],
        )
    handler = sweep.SweepAllHandler(db, clock)
    message = await _hourly_message(db, clock)
    assert clock.now().hour == 0
    await handler.prepare(message)
    kept = sorted((d.guild_id, d.messages) for d in await _all(db, ActivityDay))
    assert kept == [(GUILD, 2), (GUILD, 3), (OTHER_GUILD, 4)]
    # The other hours of the day leave them be.
    async with db.session() as session:
        await repo.add_day_counts(
            session, [DayCounts(GUILD, B, today - timedelta(days=95), {MESSAGE: 5})]
        )
    await handler.prepare(await _hourly_message(db, clock))
    assert clock.now().hour == 1
    assert (GUILD, 5) in {(d.guild_id, d.messages) for d in await _all(db, ActivityDay)}


async def test_a_retried_hourly_sweep_row_queues_one_successor(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    message = await _hourly_message(db, clock)
    handler = sweep.SweepAllHandler(db, clock)
    assert isinstance(await handler.prepare(message), Done)
    clock.advance(minutes=2, seconds=5)  # the process died before marking it; lease expired
    assert isinstance(await handler.prepare(message), Done)
    pending = [r for r in await _rows(db, sweep.KIND_SWEEP_ALL) if r.status == "pending"]
    assert len(pending) == 2  # the original row (never marked) and exactly one successor
    assert pending[1].due_at == clock.now().replace(minute=0, second=0) + timedelta(hours=1)


async def test_restarts_and_server_sweeps_all_ask_for_the_same_hourly_sweep(
    db: Database, clock: FrozenClock
) -> None:
    clock.advance_to(clock.now().replace(minute=20))
    for _ in range(3):  # three starts in the same hour, and a second process
        assert await sweep.at_start(db, clock)
        clock.advance(minutes=5)
    await _enable(db, clock)
    await sweep.SweepHandler(db, clock).prepare(await _sweep_message(db))
    due = sorted(r.due_at for r in await _rows(db, sweep.KIND_SWEEP_ALL))
    next_hour = clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    # Starting asks for the coming hour; a server's own sweep for the hour after an hour.
    assert due == [next_hour, next_hour + timedelta(hours=1)]


async def test_the_sweep_looks_only_at_servers_with_reach_out_on(
    db: Database, clock: FrozenClock
) -> None:
    await _enable(db, clock)
    await settings.configure(db, clock, OTHER_GUILD, actor_id=MOD, enabled=False)
    async with db.session() as session:
        assert list(await repo.sweep_servers(session)) == [GUILD]
        assert await session.get(ReachoutSettings, OTHER_GUILD) is not None


# --- pacing --------------------------------------------------------------------------------


class _FakeTime:
    """Monotonic time that moves only when told, and a sleep that records its delay."""

    def __init__(self, *, sleeping_moves_time: bool) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.moves = sleeping_moves_time

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.moves:
            self.now += seconds


def _fake_time(monkeypatch: pytest.MonkeyPatch, *, sleeping_moves_time: bool) -> _FakeTime:
    fake = _FakeTime(sleeping_moves_time=sleeping_moves_time)
    monkeypatch.setattr(pacing, "time", SimpleNamespace(monotonic=fake.monotonic))
    monkeypatch.setattr(pacing, "asyncio", SimpleNamespace(sleep=fake.sleep))
    return fake


async def test_the_pacer_spaces_a_burst_evenly(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_time(monkeypatch, sleeping_moves_time=True)
    pacer = Pacer(per_second=5)
    sent: list[float] = []
    for _ in range(12):
        await pacer.wait()
        sent.append(fake.now)
    assert sent == pytest.approx([1000.0 + 0.2 * i for i in range(12)])
    assert pacer.waited == pytest.approx(0.2 * 11)
    # No one-second window holds more than 5.
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 1.0 - 1e-9) <= 5


async def test_the_pacer_gives_callers_arriving_together_successive_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _fake_time(monkeypatch, sleeping_moves_time=False)
    pacer = Pacer(per_second=10)
    await asyncio.gather(*(pacer.wait() for _ in range(8)))
    assert fake.sleeps == pytest.approx([0.1 * i for i in range(1, 8)])
    assert pacer.waited == pytest.approx(sum(0.1 * i for i in range(1, 8)))


async def test_the_pacer_banks_no_credit_while_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_time(monkeypatch, sleeping_moves_time=True)
    pacer = Pacer(per_second=4)
    await pacer.wait()
    fake.now += 60.0  # a quiet minute
    for _ in range(3):
        await pacer.wait()
    assert fake.sleeps == pytest.approx([0.25, 0.25])
    assert pacer.waited == pytest.approx(0.5)


def test_the_pacer_stays_under_discords_limit_and_refuses_nonsense() -> None:
    assert 1.0 / Pacer().interval <= pacing.DISCORD_GLOBAL_LIMIT
    assert Pacer().waited == 0.0
    for rate in (0, -1, 0.0):
        with pytest.raises(ValueError, match="positive"):
            Pacer(per_second=rate)
