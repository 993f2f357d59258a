"""The one-time question "may Kinfolk DM you if you go quiet?", end to end: asked after the
first check-in or /buddy join, only where reach-out is on, never twice, and the answer kept
— on both backends."""

from __future__ import annotations

from datetime import timedelta

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.ui.reachout_ask import NO_TEXT, YES_TEXT
from tests.e2e.reachout.world import (
    Hearth,
    asked,
    checkin,
    member_row,
    move_to,
    reachouts,
    reply,
    run,
    set_up,
    walk,
    written,
)
from tests.fakediscord import FakeDiscord, InteractionHandle
from tests.helpers import FrozenClock


async def buddy_join(fake: FakeDiscord, hearth: Hearth, name: str) -> InteractionHandle:
    handle = await run(fake, hearth, hearth[name], "buddy join")
    assert (await handle.original_message()).content.startswith("You're in!")
    return handle


async def answer(
    fake: FakeDiscord, hearth: Hearth, handle: InteractionHandle, name: str, choice: str
) -> str:
    """Tap `choice` ("yes"/"no") on the question asked in answer to `handle`."""
    question = await asked(handle)
    assert question is not None
    assert question.ephemeral
    ask_ids = [f"reachout:ask:{hearth.guild_id}:{c}" for c in ("yes", "no")]
    assert question.custom_ids == ask_ids
    tapped = await fake.click(question, f"reachout:ask:{hearth.guild_id}:{choice}", hearth[name])
    await tapped.response()
    assert question.custom_ids == []  # answered: the buttons are gone
    return question.content


async def test_the_first_checkin_asks_once_where_reach_out_is_on(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice, dee = hearth["alice"], hearth["dee"]
    # Reach-out is not switched on here yet: a check-in asks nothing and records nothing.
    assert await asked(await checkin(fake, hearth, "alice", 3)) is None
    assert await member_row(database, hearth, alice) is None

    await set_up(fake, hearth, threshold_days=3)
    await move_to(fake, database, clock, clock.now() + timedelta(days=1))
    assert await answer(fake, hearth, await checkin(fake, hearth, "alice", 4), "alice", "yes") == (
        YES_TEXT
    )
    first = await asked(await checkin(fake, hearth, "dee", 4))  # dee leaves it unanswered
    assert first is not None
    dee_asked_at = clock.now()
    row = await member_row(database, hearth, alice)
    assert row is not None
    assert (row.dm_consent, row.asked_at) == ("yes", clock.now())

    # Never twice: not at the next check-in, nor when they join the buddy programme.
    await reply(fake, hearth, hearth.owner_id, "setup buddies", channel=hearth.buddies_id)
    await move_to(fake, database, clock, clock.now() + timedelta(days=1))
    for name in ("alice", "dee"):
        assert await asked(await checkin(fake, hearth, name, 5)) is None
        assert await asked(await buddy_join(fake, hearth, name)) is None
    dee_row = await member_row(database, hearth, dee)
    assert dee_row is not None
    assert (dee_row.dm_consent, dee_row.asked_at) == (None, dee_asked_at)


async def test_buddy_join_asks_once_and_no_thanks_is_kept(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    bob, cai = hearth["bob"], hearth["cai"]
    await reply(fake, hearth, hearth.owner_id, "setup buddies", channel=hearth.buddies_id)
    assert await asked(await buddy_join(fake, hearth, "cai")) is None  # reach-out is off

    await set_up(fake, hearth, threshold_days=3)
    assert await answer(fake, hearth, await buddy_join(fake, hearth, "bob"), "bob", "no") == (
        NO_TEXT
    )
    row = await member_row(database, hearth, bob)
    assert row is not None
    assert row.dm_consent == "no"
    assert await asked(await checkin(fake, hearth, "bob", 4)) is None
    # cai joined while reach-out was off: she is asked at her first check-in since.
    assert await answer(fake, hearth, await checkin(fake, hearth, "cai", 4), "cai", "yes") == (
        YES_TEXT
    )

    await written(fake, kinfolk)
    start = clock.now()
    await walk(fake, database, clock, start + timedelta(days=4), start + timedelta(days=40))
    assert reachouts(fake, bob) == []
    assert len(reachouts(fake, cai)) == 2
