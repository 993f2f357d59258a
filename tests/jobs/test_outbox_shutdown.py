"""The dispatcher at shutdown, and the nonce that lets Discord drop a duplicate send."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.jobs.delivery import Delivery, Retry, Sent
from bot.jobs.outbox import OutboxDispatcher
from tests.helpers import FrozenClock, outbox_counts


class GatedSender:
    """Records deliveries; the first send waits until the test opens the gate."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.fail_next = False

    async def deliver(self, delivery: Delivery) -> Sent | Retry:
        self.deliveries.append(delivery)
        self.started.set()
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            return Retry("503")
        return Sent(channel_id=delivery.target_id, message_id=len(self.deliveries))


async def _queue(db: Database, clock: FrozenClock, count: int) -> None:
    async with db.session() as session:
        for number in range(count):
            await outbox.enqueue(
                session,
                key=f"note:{number}",
                kind="plain",
                target_type="user",
                target_id=100 + number,
                payload={"content": f"hello {number}", "embeds": []},
                due_at=clock.now(),
                now=clock.now(),
            )


async def test_stop_finishes_the_message_in_hand_and_hands_back_the_rest(
    db: Database, clock: FrozenClock
) -> None:
    await _queue(db, clock, 3)
    sender = GatedSender()
    dispatcher = OutboxDispatcher(db, clock, sender, {}, lease=timedelta(minutes=2))
    running = asyncio.create_task(dispatcher.run_forever())
    await sender.started.wait()  # the first message is being sent; all three are leased
    dispatcher.stop()
    sender.gate.set()
    await asyncio.wait_for(running, 5)
    assert len(sender.deliveries) == 1
    async with db.session() as session:
        counts = await outbox_counts(session)
        # Handed back due now: another process (or the next start) takes them at once,
        # without waiting two minutes for the lease to run out.
        again = await outbox.claim_due(
            session, now=clock.now(), owner="next", lease=timedelta(minutes=2), limit=10
        )
    assert counts == {outbox.SENT: 1, outbox.PENDING: 2}
    assert len(again) == 2


async def test_every_attempt_at_one_row_carries_the_same_nonce(
    db: Database, clock: FrozenClock
) -> None:
    await _queue(db, clock, 2)
    sender = GatedSender()
    sender.gate.set()
    sender.fail_next = True
    dispatcher = OutboxDispatcher(db, clock, sender, {})
    await dispatcher.run_once()  # first row fails (503), second is sent
    clock.advance(minutes=1)
    await dispatcher.run_once()  # the first row again
    nonces = [d.nonce for d in sender.deliveries]
    assert nonces[0] == nonces[2]
    assert nonces[0] != nonces[1]
    assert all(n is not None and len(n) <= 25 for n in nonces)  # Discord's nonce limit
