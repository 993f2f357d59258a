"""Stepping away end to end: a buddy who leaves the server (seen with the members intent) or
runs /buddy leave mid-round, and /buddy pause keeping a member out of rounds for a while —
on both backends."""

from __future__ import annotations

from datetime import timedelta

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.repositories import buddies as repo
from bot.services.buddies.texts import PAIRING_ENDED
from tests.e2e.buddies.world import (
    Meadow,
    buddy_of,
    groups_of,
    ids,
    join,
    move_to,
    participant,
    placed_exactly_once,
    reply,
    rounds_of,
    run,
    set_up,
    start_round,
    user_payload,
)
from tests.e2e.conftest import StartBot
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

FOUR = ("ana", "ben", "cai", "dee")


async def first_round(
    fake: FakeDiscord, meadow: Meadow, database: Database, clock: FrozenClock
) -> None:
    await set_up(fake, meadow, round_days=10)
    await join(fake, meadow, *FOUR)
    await start_round(fake, meadow, database, clock)


async def next_round_without(
    fake: FakeDiscord,
    meadow: Meadow,
    database: Database,
    clock: FrozenClock,
    gone: int,
) -> None:
    """A day later the next round places the three others, as a trio, and not `gone`."""
    await move_to(fake, database, clock, clock.now() + timedelta(days=1))
    await start_round(fake, meadow, database, clock)
    [trio] = groups_of(fake, meadow, 2)
    assert trio == set(ids(meadow, *FOUR)) - {gone}


async def test_a_buddy_leaving_the_server_ends_the_pairing_kindly(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await start_bot(members_intent=True)
    await first_round(fake, meadow, database, clock)
    ana = meadow.members["ana"]
    leaver = buddy_of(fake, meadow, ana)

    del meadow.world.guilds[meadow.guild_id].members[leaver]
    await fake.dispatch(
        "GUILD_MEMBER_REMOVE",
        {"guild_id": str(meadow.guild_id), "user": user_payload(meadow, leaver)},
    )

    async def noticed() -> bool:  # the listener runs as its own task
        row = await participant(database, meadow, leaver)
        return row is not None and row.status == repo.LEFT

    await fake.wait_for(noticed, what="the departure to be noticed")
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))

    [ended] = fake.dm_messages(ana)
    assert ended.content == PAIRING_ENDED
    assert str(leaver) not in ended.content
    assert fake.dm_messages(leaver) == []
    status = await reply(fake, meadow, ana, "buddy status")
    assert "You don't have a buddy right now" in status
    # The other pair carries on untouched.
    for other in set(ids(meadow, *FOUR)) - {ana, leaver}:
        assert fake.dm_messages(other) == []
        assert "Your buddy this round" in await reply(fake, meadow, other, "buddy status")

    await next_round_without(fake, meadow, database, clock, leaver)


async def test_without_the_members_intent_a_departure_is_not_seen(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await first_round(fake, meadow, database, clock)
    ana = meadow.members["ana"]
    leaver = buddy_of(fake, meadow, ana)
    # Discord does not send the event to a bot without the intent...
    sent = await fake.gateway.dispatch(
        "GUILD_MEMBER_REMOVE",
        {"guild_id": str(meadow.guild_id), "user": user_payload(meadow, leaver)},
    )
    assert sent is False
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))
    # ...so nothing changes: the pairing stands until a buddy says otherwise.
    assert fake.dm_messages(ana) == []
    row = await participant(database, meadow, leaver)
    assert row is not None
    assert row.status == repo.ACTIVE
    status = await reply(fake, meadow, ana, "buddy status")
    assert f"Your buddy this round: <@{leaver}>." in status


async def test_buddy_leave_mid_round_ends_the_pairing_the_same_way(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await first_round(fake, meadow, database, clock)
    ana = meadow.members["ana"]
    leaver = buddy_of(fake, meadow, ana)

    handle = await run(fake, meadow, leaver, "buddy leave")
    answer = await handle.original_message()
    assert handle.is_ephemeral
    assert answer.content.startswith("You've left the buddy programme.")
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))

    [ended] = fake.dm_messages(ana)
    assert ended.content == PAIRING_ENDED
    assert str(leaver) not in ended.content
    assert fake.dm_messages(leaver) == []
    assert "You don't have a buddy right now" in await reply(fake, meadow, ana, "buddy status")
    assert "not in the buddy programme" in await reply(fake, meadow, leaver, "buddy status")

    await next_round_without(fake, meadow, database, clock, leaver)


async def test_a_paused_member_is_left_out_of_rounds_starting_within_the_pause(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await set_up(fake, meadow, round_days=10)
    await join(fake, meadow, *FOUR)
    ana = meadow.members["ana"]
    paused_at = clock.now()
    until = paused_at + timedelta(days=30)

    handle = await run(fake, meadow, ana, "buddy pause", days=30)
    answer = await handle.original_message()
    assert handle.is_ephemeral
    assert answer.content.startswith(f"Paused until <t:{int(until.timestamp())}:D>")
    row = await participant(database, meadow, ana)
    assert row is not None
    assert row.paused_until == until
    assert f"Paused until <t:{int(until.timestamp())}:D>." in await reply(
        fake, meadow, ana, "buddy status"
    )

    # A round now, rounds on schedule (every 10 days from Monday 12 January), and a round by
    # hand on day 29: all start within the pause.
    await start_round(fake, meadow, database, clock)
    for days in (10, 20, 29):
        await move_to(fake, database, clock, paused_at + timedelta(days=days))
    await start_round(fake, meadow, database, clock)
    # Two days after the pause ends, a round by hand includes her again.
    await move_to(fake, database, clock, paused_at + timedelta(days=31))
    await start_round(fake, meadow, database, clock)

    rounds = await rounds_of(database, meadow)
    during = [r.number for r in rounds if r.started_at < until]
    after = [r.number for r in rounds if r.started_at >= until]
    assert len(during) >= 3
    for number in during:
        groups = groups_of(fake, meadow, number)
        assert placed_exactly_once(groups, ids(meadow, "ben", "cai", "dee")), number
    assert after == [rounds[-1].number]
    assert placed_exactly_once(groups_of(fake, meadow, after[0]), ids(meadow, *FOUR))
