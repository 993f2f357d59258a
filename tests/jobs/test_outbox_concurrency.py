"""The dispatcher sending several messages at once: one lane per target, lanes side by side,
each lane in order; stopping, failures and leases with lanes; and the sender reaching
servers that are not in this process's cache (another shard holds them)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import discord
import pytest
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import OutboxMessage
from bot.db.repositories import outbox
from bot.jobs.delivery import (
    PROBLEM_UNKNOWN_TARGET,
    Delivery,
    KindHandler,
    NoFollowUp,
    Outcome,
    Prepared,
    QueuedMessage,
    Retry,
    Sender,
    Sent,
    Undeliverable,
    plain_payload,
)
from bot.jobs.outbox import OutboxDispatcher, backoff
from bot.jobs.pacing import Pacer
from bot.ui.outbox_sender import DiscordSender
from tests.e2e.driver import assert_every_message_sets_allowed_mentions
from tests.fakediscord import FakeDiscord, World, point_discord_py_at
from tests.helpers import FrozenClock

# ----- helpers ------------------------------------------------------------------------------


@dataclass
class TimingSender:
    """Sends nothing: takes `delay(d)` seconds (asyncio) per delivery and records the order
    deliveries started in (`contents`) and finished in per target (`by_target`), and how
    many were in flight at once, overall and per target."""

    delay: Callable[[Delivery], float] = lambda _delivery: 0.01
    answer: Callable[[Delivery], Outcome | None] = lambda _delivery: None
    before: Callable[[Delivery], object] | None = None
    contents: list[str] = field(default_factory=list)
    by_target: dict[tuple[str, int], list[str]] = field(default_factory=lambda: defaultdict(list))
    in_flight: int = 0
    peak: int = 0
    # Deliveries that started while another was still in flight.
    overlapping_starts: int = 0
    target_in_flight: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    target_peak: int = 0

    async def deliver(self, delivery: Delivery) -> Outcome:
        target = (delivery.target_type, delivery.target_id)
        if self.before is not None:
            result = self.before(delivery)
            if asyncio.iscoroutine(result):
                await result
        self.contents.append(delivery.content or "")
        if self.in_flight:
            self.overlapping_starts += 1
        self.in_flight += 1
        self.target_in_flight[target] += 1
        self.peak = max(self.peak, self.in_flight)
        self.target_peak = max(self.target_peak, self.target_in_flight[target])
        try:
            await asyncio.sleep(self.delay(delivery))
            self.by_target[target].append(delivery.content or "")
            outcome = self.answer(delivery)
            if outcome is None:
                return Sent(channel_id=delivery.target_id, message_id=len(self.contents))
            return outcome
        finally:
            self.in_flight -= 1
            self.target_in_flight[target] -= 1


async def queue_lanes(
    db: Database,
    clock: FrozenClock,
    targets: list[int],
    per_target: int,
    *,
    prefix: str = "m",
    kind: str = "plain",
) -> None:
    """`per_target` messages for each target, interleaved in claim order: t1:0, t2:0, …,
    t1:1, t2:1, … (same due time, so the id decides)."""
    async with db.session() as session:
        for number in range(per_target):
            for target in targets:
                key = f"{prefix}:{target}:{number}"
                await outbox.enqueue(
                    session,
                    key=key,
                    kind=kind,
                    target_type="user",
                    target_id=target,
                    payload=plain_payload(key),
                    due_at=clock.now(),
                    now=clock.now(),
                )


async def rows(db: Database) -> dict[str, OutboxMessage]:
    async with db.session() as session:
        found = (await session.scalars(select(OutboxMessage))).all()
    return {row.idempotency_key: row for row in found}


def dispatcher(
    db: Database,
    clock: FrozenClock,
    sender: Sender,
    concurrency: int,
    *,
    handlers: Mapping[str, KindHandler] | None = None,
    lease: timedelta = timedelta(minutes=2),
    owner: str | None = None,
) -> OutboxDispatcher:
    return OutboxDispatcher(
        db,
        clock,
        sender,
        handlers or {},
        concurrency=concurrency,
        batch=50,
        lease=lease,
        owner=owner,
    )


def first_of_lane_is_slow(delivery: Delivery) -> float:
    # The first message of each target takes longest: were a target's messages sent side by
    # side, the second would finish first.
    return 0.03 if (delivery.content or "").endswith(":0") else 0.005


# ----- lanes ---------------------------------------------------------------------------------

TARGETS = [1001 + n for n in range(6)]


async def test_lanes_overlap_across_targets_and_stay_in_order_within_one(
    db: Database, clock: FrozenClock
) -> None:
    await queue_lanes(db, clock, TARGETS, 3, prefix="four")
    wide = TimingSender(delay=first_of_lane_is_slow)
    assert await dispatcher(db, clock, wide, concurrency=4).run_once() == 18

    assert wide.peak == 4  # four targets at once, never more
    assert wide.target_peak == 1  # one target's messages never overlap
    for target in TARGETS:  # and finish in the order they were queued
        assert wide.by_target[("user", target)] == [f"four:{target}:{n}" for n in range(3)]
    assert len(wide.contents) == len(set(wide.contents)) == 18
    assert {row.status for row in (await rows(db)).values()} == {outbox.SENT}

    # The same work one lane at a time: nothing overlaps (counted, not timed).
    await queue_lanes(db, clock, TARGETS, 3, prefix="one")
    narrow = TimingSender(delay=first_of_lane_is_slow)
    assert await dispatcher(db, clock, narrow, concurrency=1).run_once() == 18
    assert (narrow.peak, narrow.overlapping_starts) == (1, 0)
    assert narrow.contents == [f"one:{t}:{n}" for t in TARGETS for n in range(3)]
    assert wide.overlapping_starts >= 3  # vs none: at least the first four went together


async def test_a_target_id_with_two_target_types_is_two_lanes(
    db: Database, clock: FrozenClock
) -> None:
    async with db.session() as session:
        for target_type in ("user", "channel"):
            await outbox.enqueue(
                session,
                key=target_type,
                kind="plain",
                target_type=target_type,
                target_id=77,
                payload=plain_payload(target_type),
                due_at=clock.now(),
                now=clock.now(),
            )
    sender = TimingSender(delay=lambda _d: 0.05)
    await dispatcher(db, clock, sender, concurrency=2).run_once()
    assert (sender.peak, sender.overlapping_starts) == (2, 1)


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        OutboxDispatcher(None, FrozenClock(), TimingSender(), {}, concurrency=0)  # type: ignore[arg-type]


# ----- stopping mid-batch ---------------------------------------------------------------------


async def test_stop_mid_batch_sends_what_is_in_hand_and_releases_the_rest(
    db: Database, clock: FrozenClock
) -> None:
    targets = [2001 + n for n in range(6)]
    await queue_lanes(db, clock, targets, 2)
    gate, four_started = asyncio.Event(), asyncio.Event()
    started: list[str] = []

    async def hold(delivery: Delivery) -> None:
        started.append(delivery.content or "")
        if len(started) == 4:
            four_started.set()
        await gate.wait()

    sender = TimingSender(before=hold, delay=lambda _d: 0)
    first = dispatcher(db, clock, sender, concurrency=4)
    running = asyncio.create_task(first.run_once())
    await asyncio.wait_for(four_started.wait(), 5)  # four lanes each sending their first
    await asyncio.sleep(0.02)  # (a fifth would have started by now, were there room)
    first.stop()
    gate.set()
    assert await asyncio.wait_for(running, 5) == 12

    in_hand = set(started)
    assert len(in_hand) == 4
    assert all(content.endswith(":0") for content in in_hand)
    after_stop = await rows(db)
    assert {k for k, r in after_stop.items() if r.status == outbox.SENT} == in_hand
    released = {k: r for k, r in after_stop.items() if k not in in_hand}
    assert len(released) == 8  # the lanes' second messages and the two lanes not started
    for row in released.values():
        assert (row.status, row.lease_owner, row.leased_until) == (outbox.PENDING, None, None)
        assert row.last_error == "released at shutdown"
        assert row.due_at == clock.now()  # due at once, not after the lease

    # The next dispatcher (another process, or this one restarted) sends each exactly once.
    gate.set()
    second = TimingSender(delay=lambda _d: 0)
    assert await dispatcher(db, clock, second, concurrency=4).run_once() == 8
    assert sorted(second.contents) == sorted(released)
    assert len(sender.contents) + len(second.contents) == 12
    assert set(sender.contents).isdisjoint(second.contents)
    assert {row.status for row in (await rows(db)).values()} == {outbox.SENT}


# ----- failures ----------------------------------------------------------------------------------


class Exploding(NoFollowUp):
    """A kind whose rendering fails for the "boom" message, and whose undeliverable
    follow-up fails for the "follow-up" one."""

    max_attempts: int | None = 8

    async def prepare(self, message: QueuedMessage) -> Prepared:
        if message.payload["content"].startswith("boom"):
            raise RuntimeError("cannot render")
        return Delivery(
            target_type=message.target_type, target_id=message.target_id, **message.payload
        )

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        raise RuntimeError("follow-up failed")


async def test_a_failing_message_holds_up_neither_its_lane_nor_the_others(
    db: Database, clock: FrozenClock
) -> None:
    async with db.session() as session:
        for key, target in (
            ("boom", 1),  # prepare raises
            ("raises", 2),  # the sender raises
            ("follow-up", 3),  # undeliverable, then the handler's follow-up raises
            ("fine-4", 4),
            ("after-boom", 1),
            ("after-raises", 2),
            ("after-follow-up", 3),
            ("fine-4b", 4),
        ):
            await outbox.enqueue(
                session,
                key=key,
                kind="exploding",
                target_type="user",
                target_id=target,
                payload=plain_payload(key),
                due_at=clock.now(),
                now=clock.now(),
            )

    def answer(delivery: Delivery) -> Outcome | None:
        if delivery.content == "raises":
            raise ConnectionResetError("connection reset")
        if delivery.content == "follow-up":
            return Undeliverable("no_permission", "Missing Permissions")
        return None

    sender = TimingSender(answer=answer, delay=lambda _d: 0.01)
    worker = dispatcher(db, clock, sender, concurrency=4, handlers={"exploding": Exploding()})
    assert await worker.run_once() == 8
    assert sender.target_peak == 1

    found = await rows(db)
    sent = {k for k, r in found.items() if r.status == outbox.SENT}
    assert sent == {"fine-4", "fine-4b", "after-boom", "after-raises", "after-follow-up"}
    retry_at = clock.now() + backoff(1)
    for key, reason in (
        ("boom", "prepare failed"),
        ("raises", "ConnectionResetError"),
        ("follow-up", "internal error"),
    ):
        row = found[key]
        assert (row.status, row.last_error, row.due_at) == (outbox.PENDING, reason, retry_at)
        assert row.lease_owner is None


# ----- leases ----------------------------------------------------------------------------------


async def _leased_until(db: Database, content: str) -> datetime | None:
    async with db.session() as session:
        row = await outbox.get_by_key(session, content)
    assert row is not None
    return row.leased_until


async def test_the_lease_is_renewed_only_when_the_batch_lease_runs_low(
    db: Database, clock: FrozenClock
) -> None:
    lease = timedelta(seconds=100)
    start = clock.now()
    await queue_lanes(db, clock, [3001], 4)  # one lane: sent in order, one at a time
    seen: dict[str, datetime | None] = {}
    # After each send the clock moves on: the next one starts 30, 40 and 50 s into the lease.
    steps = iter([30, 10, 10, 0])

    async def look(delivery: Delivery) -> None:
        seen[delivery.content or ""] = await _leased_until(db, delivery.content or "")

    def move_on(_delivery: Delivery) -> None:
        clock.advance(seconds=next(steps))

    sender = TimingSender(before=look, delay=lambda _d: 0, answer=move_on)
    await dispatcher(db, clock, sender, concurrency=2, lease=lease).run_once()

    assert seen == {
        "m:3001:0": start + lease,  # fresh batch lease: no renewal
        "m:3001:1": start + lease,  # 70 s of 100 left: still more than 60 %
        "m:3001:2": start + timedelta(seconds=40) + lease,  # exactly 60 % left: renewed
        "m:3001:3": start + timedelta(seconds=50) + lease,
    }
    assert {row.status for row in (await rows(db)).values()} == {outbox.SENT}


async def test_a_message_whose_lease_was_taken_over_is_not_sent(
    db: Database, clock: FrozenClock
) -> None:
    lease = timedelta(seconds=100)
    await queue_lanes(db, clock, [4001, 4002], 1)
    taken: list[str] = []

    async def stall_until_taken_over(delivery: Delivery) -> None:
        # This dispatcher stalls past its lease; another one claims what it held.
        clock.advance(seconds=101)
        async with db.session() as session:
            claimed = await outbox.claim_due(
                session, now=clock.now(), owner="rescuer", lease=lease, limit=10
            )
        taken.extend(row.idempotency_key for row in claimed)

    sender = TimingSender(before=stall_until_taken_over, delay=lambda _d: 0)
    stalled = dispatcher(db, clock, sender, concurrency=1, lease=lease, owner="stalled")
    await stalled.run_once()

    assert sender.contents == ["m:4001:0"]  # the second was never sent by "stalled"
    assert sorted(taken) == ["m:4001:0", "m:4002:0"]
    found = await rows(db)
    for row in found.values():  # "stalled" could neither mark nor release them
        assert (row.status, row.lease_owner) == (outbox.SENDING, "rescuer")
        assert row.leased_until == clock.now() + lease


# ----- the sender, for servers this process has no shard of ----------------------------------


@dataclass
class RestOnly:
    """A discord.py client logged in over REST only: no gateway, so no server is cached,
    as in a process whose shards do not include the server."""

    fake: FakeDiscord
    world: World
    sender: DiscordSender
    client: discord.Client
    guild_id: int
    owner_id: int

    def guild_fetches(self, guild_id: int) -> int:
        return sum(
            1 for r in self.fake.requests if r.method == "GET" and r.path == f"/guilds/{guild_id}"
        )


@pytest.fixture
async def rest_only() -> AsyncIterator[RestOnly]:
    world = World()
    guild = world.add_guild("Haven *club*")
    async with FakeDiscord(world) as fake:
        undo = point_discord_py_at(fake.api_base, fake.gateway_url)
        client = discord.Client(intents=discord.Intents.none())
        try:
            await client.login(fake.token)
            sender = DiscordSender(client, Pacer(10_000))
            yield RestOnly(fake, world, sender, client, guild.id, guild.owner_id)
            assert_every_message_sets_allowed_mentions(fake)
        finally:
            await client.close()
            undo()


async def test_a_guild_owner_message_fetches_the_server_to_find_its_owner(
    rest_only: RestOnly,
) -> None:
    assert rest_only.client.get_guild(rest_only.guild_id) is None
    outcome = await rest_only.sender.deliver(
        Delivery(target_type="guild_owner", target_id=rest_only.guild_id, content="Set me up")
    )
    assert isinstance(outcome, Sent)
    [dm] = rest_only.fake.dm_messages(rest_only.owner_id)
    assert (dm.content, outcome.message_id, outcome.channel_id) == (
        "Set me up",
        dm.id,
        dm.channel_id,
    )
    assert rest_only.guild_fetches(rest_only.guild_id) == 1


async def test_the_server_name_is_fetched_once_and_escaped(rest_only: RestOnly) -> None:
    member = rest_only.world.add_member(rest_only.guild_id, "alice").user.id
    for number in range(3):
        outcome = await rest_only.sender.deliver(
            Delivery(
                target_type="user",
                target_id=member,
                content=f"Thinking of you from {{server}} ({number})",
                server_name_of=rest_only.guild_id,
            )
        )
        assert isinstance(outcome, Sent)
    contents = [m.content for m in rest_only.fake.dm_messages(member)]
    assert contents == [f"Thinking of you from Haven \\*club\\* ({n})" for n in range(3)]
    assert rest_only.guild_fetches(rest_only.guild_id) == 1  # then remembered

    # A server the bot can no longer see: a neutral name, and the message still goes.
    gone = rest_only.world.add_guild("Gone").id
    del rest_only.world.guilds[gone]
    outcome = await rest_only.sender.deliver(
        Delivery(target_type="user", target_id=member, content="From {server}", server_name_of=gone)
    )
    assert isinstance(outcome, Sent)
    assert rest_only.fake.dm_messages(member)[-1].content == "From your server"


async def test_a_server_that_cannot_be_fetched_is_an_unknown_target(rest_only: RestOnly) -> None:
    owner_dm = Delivery(target_type="guild_owner", target_id=rest_only.guild_id, content="Hi")
    rest_only.fake.inject_failure("GET", rf"/guilds/{rest_only.guild_id}$", 403, code=50001)
    refused = await rest_only.sender.deliver(owner_dm)  # the bot was removed from it
    missing = await rest_only.sender.deliver(
        Delivery(target_type="guild_owner", target_id=rest_only.guild_id + 1, content="Hi")
    )
    for outcome in (refused, missing):
        assert isinstance(outcome, Undeliverable)
        assert outcome.code == PROBLEM_UNKNOWN_TARGET
    rest_only.fake.inject_failure("GET", rf"/guilds/{rest_only.guild_id}$", 503)
    assert isinstance(await rest_only.sender.deliver(owner_dm), Retry)  # passing: try again
    assert isinstance(await rest_only.sender.deliver(owner_dm), Sent)
    assert [m.content for m in rest_only.fake.dm_messages(rest_only.owner_id)] == ["Hi"]
