"""What reach-out tells others, end to end: the weekly moderator digest (counts, and names
only where the server chose the list), and the gentle "you might check on X" to an active
buddy instead of the DM — on both backends."""

from __future__ import annotations

from datetime import timedelta

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.services.reachout.sweep import KIND_BUDDY, KIND_DM
from tests.e2e.checkins.world import outbox_rows
from tests.e2e.reachout.world import (
    Hearth,
    asked,
    member_row,
    move_to,
    opt_in,
    press,
    reachouts,
    reply,
    run,
    set_up,
    start_round,
    utc,
    walk,
    written,
)
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

QUIET = utc(1, 8, 13)  # the first sweep after three quiet days (from Monday 5 January 12:00)
DIGEST_DAY = utc(1, 12, 9)  # the next Monday, 09:00 server time (UTC)


def digests(fake: FakeDiscord, hearth: Hearth) -> list[StoredMessage]:
    return [
        m
        for m in fake.messages(hearth.digest_id)
        if m.content.startswith("📋 **Weekly reach-out digest**")
    ]


async def test_the_weekly_digest_counts_and_names_only_with_the_list_option(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    bob, cai, owner = hearth["bob"], hearth["cai"], hearth.owner_id
    answer = await set_up(fake, hearth, threshold_days=3, digest_channel=hearth.digest_id)
    assert f"Weekly digest: <#{hearth.digest_id}>." in answer
    assert "Members who haven't opted in: nothing." in answer
    await opt_in(fake, hearth, "alice", "cai")
    await reply(fake, hearth, cai, "reachout off")
    await reply(fake, hearth, bob, "reachout show")  # tracked, and never says yes
    await written(fake, kinfolk)

    await move_to(fake, database, clock, QUIET)
    await press(fake, hearth, "alice", "busy")  # reached, and answered
    await move_to(fake, database, clock, utc(1, 11, 12))
    await fake.post_message(hearth.general_id, owner, "see you all tomorrow")
    await written(fake, kinfolk)  # the owner is active: not quiet

    await move_to(fake, database, clock, DIGEST_DAY - timedelta(minutes=1))
    assert digests(fake, hearth) == []
    await move_to(fake, database, clock, DIGEST_DAY)
    [digest] = digests(fake, hearth)
    assert digest.content.splitlines()[1:] == [
        "- Members quiet for 3+ days: **3**",  # alice, bob and cai
        "- Reached by a DM this week: **1**",
        "- Whose buddy got a nudge this week: **0**",
        "- Answered this week: **1**",
    ]  # counts, and no names at all
    assert fake.pinged(digest) == set()

    # Weekly: nothing more this week. The owner picks the list option for the next one.
    await move_to(fake, database, clock, utc(1, 13, 12))
    answer = await set_up(fake, hearth, not_opted="digest")
    assert "Members who haven't opted in: list them in the weekly digest." in answer
    await written(fake, kinfolk)
    await walk(fake, database, clock, utc(1, 14, 9), DIGEST_DAY + timedelta(days=6))
    assert len(digests(fake, hearth)) == 1
    await move_to(fake, database, clock, DIGEST_DAY + timedelta(days=7))
    [_, digest] = digests(fake, hearth)
    assert digest.content.splitlines()[1:] == [
        "- Members quiet for 3+ days: **4**",  # and now the owner, last seen on the 13th
        "- Reached by a DM this week: **0**",
        "- Whose buddy got a nudge this week: **0**",
        "- Answered this week: **0**",
        f"Quiet, and never opted in to DMs — maybe say hello? <@{bob}> <@{owner}>",
    ]  # alice (opted in) and cai (said no) are never listed
    assert fake.pinged(digest) == set()


async def test_with_buddy_nudge_instead_the_active_buddy_is_told_and_no_dm_is_sent(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice, bob = hearth["alice"], hearth["bob"]
    answer = await set_up(fake, hearth, threshold_days=3, buddy_nudge="instead")
    assert "Buddies: nudge their buddy instead of the dm." in answer
    await reply(fake, hearth, hearth.owner_id, "setup buddies", channel=hearth.buddies_id)
    for name in ("alice", "bob"):
        joined = await run(fake, hearth, hearth[name], "buddy join")
        question = await asked(joined)
        assert question is not None
        yes = f"reachout:ask:{hearth.guild_id}:yes"
        assert yes in question.custom_ids
        await (await fake.click(question, yes, hearth[name])).response()
    await start_round(fake, hearth, database, clock)
    await written(fake, kinfolk)

    await move_to(fake, database, clock, utc(1, 7, 12))
    await fake.post_message(hearth.general_id, bob, "morning!")  # bob stays active
    await written(fake, kinfolk)
    await move_to(fake, database, clock, QUIET)

    [nudge] = [m for m in fake.dm_messages(bob) if "hasn't been around" in m.content]
    assert nudge.content.startswith("Hi, it's Kinfolk from **Hearth**.")
    assert f"Your buddy <@{alice}> hasn't been around" in nudge.content
    assert fake.pinged(nudge) == set()
    assert reachouts(fake, alice) == []
    assert reachouts(fake, bob) == []

    await walk(fake, database, clock, QUIET + timedelta(hours=1), utc(1, 9, 13))
    assert len([m for m in fake.dm_messages(bob) if "hasn't been around" in m.content]) == 1
    assert reachouts(fake, alice) == []
    assert await outbox_rows(database, KIND_DM) == []
    [row] = await outbox_rows(database, KIND_BUDDY)
    assert (row.target_id, row.status) == (bob, "sent")
    member = await member_row(database, hearth, alice)
    assert member is not None
    assert (member.last_nudged_at, member.last_reached_at) == (QUIET, None)
