"""Members who leave, end to end: with MEMBERS_INTENT, a member who leaves is erased once the
server's grace period is over (30 days by default, /setup privacy leave_grace_days:), unless
they come back first; without the intent Discord does not say who left and nothing is
erased — on both backends."""

from __future__ import annotations

from datetime import timedelta

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.conftest import StartBot
from tests.e2e.privacy.world import (
    Refuge,
    checkin_with_note,
    leave,
    move_to,
    rejoin,
    reply,
    set_up_privacy,
    where_held,
)
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock


async def leaves_a_trace(fake: FakeDiscord, refuge: Refuge, db: Database, member: int) -> None:
    """A check-in with a note, an offer, reach-out consent and a buddy-programme place."""
    await checkin_with_note(fake, refuge, db, member, 3, "a quiet sort of day")
    await reply(fake, refuge, member, "offer", practical=True, topics="cooking")
    await reply(fake, refuge, member, "reachout on")
    assert (await reply(fake, refuge, member, "buddy join")).startswith("You're in!")


async def noticed_leaving(fake: FakeDiscord, db: Database, refuge: Refuge, member: int) -> None:
    """The member leaves; wait until the bot has recorded it (listeners run as tasks)."""
    await leave(fake, refuge, member)

    async def recorded() -> bool:
        return ("member_departures", "user_id") in await where_held(db, member)

    await fake.wait_for(recorded, what="the departure to be recorded")


async def test_a_member_who_leaves_is_erased_once_the_grace_period_is_over(
    fake: FakeDiscord,
    refuge: Refuge,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await start_bot(members_intent=True)
    await reply(fake, refuge, refuge.owner_id, "setup buddies", channel=refuge.buddies_id)
    await leaves_a_trace(fake, refuge, database, refuge.alice)
    await leaves_a_trace(fake, refuge, database, refuge.bob)
    left_at = clock.now()

    await noticed_leaving(fake, database, refuge, refuge.alice)
    await move_to(fake, database, clock, left_at + timedelta(days=30) - timedelta(minutes=1))
    still = {table for table, _ in await where_held(database, refuge.alice)}
    assert {"checkins", "support_offers", "member_activity", "buddy_members"} <= still

    await move_to(fake, database, clock, left_at + timedelta(days=30))
    assert await where_held(database, refuge.alice) == []
    # Only the member who left: Bob, who stayed, keeps everything.
    bob = {table for table, _ in await where_held(database, refuge.bob)}
    assert {"checkins", "support_offers", "member_activity", "buddy_members"} <= bob


async def test_the_grace_period_is_the_servers_choice_and_coming_back_cancels_erasure(
    fake: FakeDiscord,
    refuge: Refuge,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await start_bot(members_intent=True)
    await reply(fake, refuge, refuge.owner_id, "setup buddies", channel=refuge.buddies_id)
    answer = await set_up_privacy(fake, refuge, leave_grace_days=7)
    assert "Members who leave are erased **7 days** after they leave" in answer
    for member in (refuge.bob, refuge.cai):
        await leaves_a_trace(fake, refuge, database, member)
    left_at = clock.now()

    await noticed_leaving(fake, database, refuge, refuge.bob)
    await noticed_leaving(fake, database, refuge, refuge.cai)
    await move_to(fake, database, clock, left_at + timedelta(days=3))
    await rejoin(fake, refuge, refuge.bob)

    async def welcomed_back() -> bool:
        return ("member_departures", "user_id") not in await where_held(database, refuge.bob)

    await fake.wait_for(welcomed_back, what="the return to be noticed")

    await move_to(fake, database, clock, left_at + timedelta(days=7))
    assert await where_held(database, refuge.cai) == []  # gone after 7 days, not 30
    # Bob came back in time: nothing of his was erased, then or later.
    await move_to(fake, database, clock, left_at + timedelta(days=31))
    bob = {table for table, _ in await where_held(database, refuge.bob)}
    assert {"checkins", "support_offers", "member_activity", "buddy_members"} <= bob
    shown = (await reply(fake, refuge, refuge.bob, "privacy show")).splitlines()
    for line in (
        "• your settings (timezone, reminder): 1",
        "• check-ins (mood, and notes, encrypted): 1",
        "• the support you offer: 1",
    ):
        assert line in shown


async def test_without_the_members_intent_nobody_is_erased_for_leaving(
    fake: FakeDiscord,
    refuge: Refuge,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await reply(fake, refuge, refuge.owner_id, "setup buddies", channel=refuge.buddies_id)
    await leaves_a_trace(fake, refuge, database, refuge.alice)
    held = await where_held(database, refuge.alice)
    del refuge.world.guilds[refuge.guild_id].members[refuge.alice]
    sent = await fake.gateway.dispatch(
        "GUILD_MEMBER_REMOVE",
        {"guild_id": str(refuge.guild_id), "user": refuge.world.users[refuge.alice].payload()},
    )
    assert sent is False  # Discord does not tell a bot without the intent
    await move_to(fake, database, clock, clock.now() + timedelta(days=31))
    assert await where_held(database, refuge.alice) == held


async def test_leaving_again_after_coming_back_starts_the_grace_period_again(
    fake: FakeDiscord,
    refuge: Refuge,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await start_bot(members_intent=True)
    await reply(fake, refuge, refuge.owner_id, "setup buddies", channel=refuge.buddies_id)
    await set_up_privacy(fake, refuge, leave_grace_days=7)
    await leaves_a_trace(fake, refuge, database, refuge.bob)
    first = clock.now()

    await noticed_leaving(fake, database, refuge, refuge.bob)
    await move_to(fake, database, clock, first + timedelta(days=3))
    await rejoin(fake, refuge, refuge.bob)
    await move_to(fake, database, clock, first + timedelta(days=5))
    await noticed_leaving(fake, database, refuge, refuge.bob)
    second = clock.now()

    # Seven days after the first departure: that erasure was called off by the return.
    await move_to(fake, database, clock, first + timedelta(days=7, minutes=1))
    assert ("checkins", "user_id") in await where_held(database, refuge.bob)
    await move_to(fake, database, clock, second + timedelta(days=7) - timedelta(minutes=1))
    assert ("checkins", "user_id") in await where_held(database, refuge.bob)
    await move_to(fake, database, clock, second + timedelta(days=7))
    assert await where_held(database, refuge.bob) == []
