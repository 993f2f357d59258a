"""Shared by the outbox dispatcher tests: a fake sender and escalation set-up."""

from __future__ import annotations

from collections.abc import Callable

from bot.db.engine import Database
from bot.db.models import OutboxMessage
from bot.db.repositories import outbox
from bot.domain.escalation import Urgency
from bot.jobs.delivery import (
    Delivery,
    Outcome,
    Sent,
)
from bot.jobs.outbox import OutboxDispatcher
from bot.services.escalation import config, ladder, requests
from bot.services.escalation.requests import Opened
from tests.helpers import FrozenClock

GUILD, MEMBER, MOD, MOD2 = 100, 200, 300, 301
ALERTS, MODS, SUPPORT, SECOND_TIER, ON_DUTY = 10, 20, 30, 40, 50


class FakeSender:
    """Records every delivery; answers Sent unless told otherwise for matching deliveries."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.rules: list[tuple[Callable[[Delivery], bool], Outcome, int | None]] = []
        self._next_id = 5000
        self.last_sent_id: int | None = None

    def answer(
        self, when: Callable[[Delivery], bool], outcome: Outcome, times: int | None = None
    ) -> None:
        """Answer `outcome` to deliveries matching `when`, `times` times (None: always)."""
        self.rules.append((when, outcome, times))

    async def deliver(self, delivery: Delivery) -> Outcome:
        self.deliveries.append(delivery)
        for index, (when, outcome, times) in enumerate(self.rules):
            if when(delivery):
                if times is not None:
                    if times <= 1:
                        del self.rules[index]
                    else:
                        self.rules[index] = (when, outcome, times - 1)
                return outcome
        if delivery.edit_message_id is not None:  # an edit answers with the message edited
            return Sent(channel_id=delivery.target_id, message_id=delivery.edit_message_id)
        self._next_id += 1
        self.last_sent_id = self._next_id
        return Sent(channel_id=delivery.target_id, message_id=self._next_id)

    def take(self) -> list[Delivery]:
        """New messages delivered since the last call (edits of earlier messages aside)."""
        taken, self.deliveries = self.deliveries, []
        return [d for d in taken if getattr(d, "edit_message_id", None) is None]


def to_alerts(delivery: Delivery) -> bool:
    return delivery.target_type == "channel" and delivery.target_id == ALERTS


def make_dispatcher(
    db: Database, clock: FrozenClock, sender: FakeSender, owner: str | None = None
) -> OutboxDispatcher:
    return OutboxDispatcher(db, clock, sender, ladder.handlers(db, clock), owner=owner)


async def configure_escalation(db: Database, clock: FrozenClock, **extra: int) -> None:
    await config.configure(
        db,
        clock,
        GUILD,
        MOD,
        alert_channel_id=ALERTS,
        moderator_role_id=MODS,
        support_channel_id=SUPPORT,
        **extra,  # type: ignore[arg-type]
    )


async def open_talk(
    db: Database, clock: FrozenClock, member: int = MEMBER, urgency: Urgency = Urgency.STRUGGLING
) -> int:
    result = await requests.open_request(
        db, clock, guild_id=GUILD, member_id=member, urgency=urgency, locale="en-GB"
    )
    assert isinstance(result, Opened)
    return result.request.request_id


async def outbox_row(db: Database, key: str) -> OutboxMessage:
    async with db.session() as session:
        row = await outbox.get_by_key(session, key)
    assert row is not None, key
    return row


async def drain(dispatcher: OutboxDispatcher, passes: int = 3) -> None:
    for _ in range(passes):
        await dispatcher.run_once()
