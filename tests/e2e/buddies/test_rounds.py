"""A buddy round started by hand, end to end: the owner's private preview and its Start
button (refused to members without Manage Server), then one private, invite-only thread per
group with an intro that pings exactly its members — on both backends."""

from __future__ import annotations

import re

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.ui.permissions import MANAGE_SERVER_REFUSAL
from tests.e2e.buddies.world import (
    Meadow,
    buddy_threads,
    groups_of,
    ids,
    join,
    members_of,
    placed_exactly_once,
    rounds_of,
    run,
    set_up,
    start_round,
)
from tests.e2e.driver import settle
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

PRIVATE_THREAD = 12


def preview_groups(preview: StoredMessage) -> list[frozenset[int]]:
    """The groups a preview lists, one "• <@a> & <@b>" line each."""
    return [
        frozenset(int(m) for m in re.findall(r"<@(\d+)>", line))
        for line in preview.content.splitlines()
        if line.startswith("• ")
    ]


async def preview_round(fake: FakeDiscord, meadow: Meadow) -> StoredMessage:
    handle = await run(fake, meadow, meadow.owner_id, "setup buddies-round")
    assert handle.is_ephemeral
    return await handle.answer()


async def test_the_preview_is_private_and_nothing_starts_until_start_is_pressed(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await set_up(fake, meadow)
    people = ids(meadow, "ana", "ben", "cai", "dee")
    await join(fake, meadow, "ana", "ben", "cai", "dee")

    preview = await preview_round(fake, meadow)
    assert preview.content.startswith("**Round 1 preview**")
    assert "4 members taking part → 2 groups" in preview.content
    listed = preview_groups(preview)
    assert len(listed) == 2
    assert placed_exactly_once(listed, people)
    assert fake.pinged(preview) == set()
    [start_id] = preview.custom_ids
    assert start_id.startswith("buddy:start:")
    [button] = preview.components[0]["components"]
    assert button["label"] == "Start this round"

    await settle(fake, database, clock)
    assert buddy_threads(fake, meadow) == []
    assert await rounds_of(database, meadow) == []

    started = await (await fake.click(preview, start_id, meadow.owner_id)).answer()
    assert started.content.startswith("Round 1 has started: 2 groups.")
    assert started.custom_ids == []  # the button is gone: it can't be pressed twice
    await settle(fake, database, clock)
    # The round is exactly the one previewed (the button carries the preview's seed).
    assert sorted(groups_of(fake, meadow, 1), key=sorted) == sorted(listed, key=sorted)
    [started_round] = await rounds_of(database, meadow)
    assert started_round.started_by == meadow.owner_id


async def test_a_member_without_manage_server_cannot_press_start(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await set_up(fake, meadow)
    await join(fake, meadow, "ana", "ben", "cai", "dee")
    preview = await preview_round(fake, meadow)
    [start_id] = preview.custom_ids

    # A copy of the preview (forwarded, or a crafted interaction) pressed by ana.
    ana = meadow.members["ana"]
    last_edited = preview.edited_timestamp
    pressed = await fake.click(preview, start_id, ana)
    refusal = await pressed.original_message()
    assert pressed.is_ephemeral
    assert refusal.content == MANAGE_SERVER_REFUSAL
    await settle(fake, database, clock)
    assert buddy_threads(fake, meadow) == []
    assert await rounds_of(database, meadow) == []
    assert preview.edited_timestamp == last_edited  # the owner's copy is untouched
    assert preview.custom_ids == [start_id]

    await start_round(fake, meadow, database, clock)
    assert len(buddy_threads(fake, meadow)) == 2


async def test_each_pair_gets_one_private_thread_with_an_intro_that_pings_only_them(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await set_up(fake, meadow)
    people = ids(meadow, "ana", "ben", "cai", "dee")
    await join(fake, meadow, "ana", "ben", "cai", "dee")
    await start_round(fake, meadow, database, clock)

    threads = buddy_threads(fake, meadow)
    assert len(threads) == 2
    groups = [members_of(fake, t) for t in threads]
    assert all(len(g) == 2 for g in groups)
    assert placed_exactly_once(groups, people)
    bot_id = fake.world.bot_user.id
    for thread in threads:
        pair = members_of(fake, thread)
        assert thread.type == PRIVATE_THREAD
        assert thread.parent_id == meadow.buddies_id
        assert thread.invitable is False
        assert thread.thread_members == {*pair, bot_id}
        [intro] = fake.messages(thread.id)
        assert intro.author_id == bot_id
        for member in pair:
            assert f"<@{member}>" in intro.content
        assert "You're buddies until" in intro.content
        assert fake.pinged(intro) == {f"user:{m}" for m in pair}
    # Nothing about the pairs is said in the open channel.
    assert fake.messages(meadow.buddies_id) == []

    ana = meadow.members["ana"]
    status = await run(fake, meadow, ana, "buddy status")
    assert status.is_ephemeral
    text = (await status.original_message()).content
    [mine] = [t for t in threads if ana in members_of(fake, t)]
    [buddy] = members_of(fake, mine) - {ana}
    assert f"Your buddy this round: <@{buddy}>." in text
    assert f"Your thread: <#{mine.id}>." in text
    assert "Rounds you've taken part in: 1." in text


async def test_five_members_make_two_threads_one_of_them_a_trio(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await set_up(fake, meadow)
    names = ("ana", "ben", "cai", "dee", "eli")
    await join(fake, meadow, *names)
    preview = await preview_round(fake, meadow)
    assert "5 members taking part → 2 groups, 1 trio." in preview.content

    started = await start_round(fake, meadow, database, clock)
    assert started.content.startswith("Round 1 has started: 2 groups.")
    groups = groups_of(fake, meadow, 1)
    assert sorted(len(g) for g in groups) == [2, 3]
    assert placed_exactly_once(groups, ids(meadow, *names))
    for thread in buddy_threads(fake, meadow):
        [intro] = fake.messages(thread.id)
        assert fake.pinged(intro) == {f"user:{m}" for m in members_of(fake, thread)}
    # The two not taking part are in no thread and got no message.
    for outsider in ids(meadow, "fay", "gus"):
        assert not any(outsider in g for g in groups)
        assert fake.dm_messages(outsider) == []


async def test_an_intro_that_fails_to_post_is_retried_in_the_same_thread(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    """The thread is opened, then posting the intro fails (Discord answers 503, which
    discord.py does not retry): the thread is recorded before the post, so the retry posts
    in it instead of opening another one."""
    await set_up(fake, meadow)
    await join(fake, meadow, "ana", "ben")
    fake.inject_failure("POST", r"^/channels/\d+/messages$", status=503, count=1)
    await start_round(fake, meadow, database, clock)
    [thread] = buddy_threads(fake, meadow)
    assert fake.messages(thread.id) == []  # opened; its intro failed

    for _ in range(3):  # the outbox's back-off, and a little more
        clock.advance(minutes=5)
        await settle(fake, database, clock)
    [thread] = buddy_threads(fake, meadow)
    [intro] = fake.messages(thread.id)
    assert "You're buddies until" in intro.content
    assert members_of(fake, thread) == set(ids(meadow, "ana", "ben"))
    status = await run(fake, meadow, meadow.members["ana"], "buddy status")
    assert f"Your thread: <#{thread.id}>." in (await status.original_message()).content


async def test_two_presses_of_start_start_one_round(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    """A double click (or a second moderator pressing a copy of the same preview) starts the
    round once; the other press is told kindly, privately, that it has already started.
    An old preview's button pressed after a later round started starts nothing either."""
    await set_up(fake, meadow)
    await join(fake, meadow, "ana", "ben", "cai", "dee")
    preview = await preview_round(fake, meadow)
    [start_id] = preview.custom_ids
    assert start_id.endswith(":1")  # the round it starts

    first = await fake.click(preview, start_id, meadow.owner_id)
    # The second press of a double click reaches the bot whatever the first did meanwhile.
    second = await fake.forge_click(preview, start_id, meadow.owner_id)
    # Either may win: the winner turns the preview into the start notice, the other is
    # told privately.
    await fake.wait_for(
        lambda: (
            preview.content.startswith("Round 1 has started")
            and len(first.followups) + len(second.followups) == 1
        ),
        what="one start and one refusal",
    )
    await settle(fake, database, clock)
    assert [r.number for r in await rounds_of(database, meadow)] == [1]
    assert len(buddy_threads(fake, meadow)) == 2
    told = [m.content for h in (first, second) for m in h.followups]
    assert told == ["Round 1 has already started."]
    assert all(m.ephemeral for h in (first, second) for m in h.followups)

    await start_round(fake, meadow, database, clock)  # round 2, from a new preview
    again = await fake.forge_click(preview, start_id, meadow.owner_id)  # another copy
    await again.response()
    await fake.wait_for(lambda: bool(again.followups), what="the refusal")
    assert [m.content for m in again.followups] == ["Round 1 has already started."]
    assert [r.number for r in await rounds_of(database, meadow)] == [1, 2]


async def test_fourteen_members_meet_someone_new_in_each_of_six_rounds(
    fake: FakeDiscord,
    meadow: Meadow,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    """A round of more than 12 is paired by the exact matching, in a worker process. With
    14 members a repeat-free round always exists for the six rounds of the repeat window
    (each has met at most 5 of 13), so none of them meets anyone twice, and all are placed."""
    for n in range(len(meadow.members), 14):
        meadow.members[f"m{n}"] = meadow.world.add_member(meadow.guild_id, f"m{n}").id
    await set_up(fake, meadow)
    await join(fake, meadow, *meadow.members)
    people = list(meadow.members.values())
    met: set[frozenset[int]] = set()
    for number in range(1, 7):
        started = await start_round(fake, meadow, database, clock)
        assert started.content.startswith(f"Round {number} has started: 7 groups."), started
        groups = groups_of(fake, meadow, number)
        assert placed_exactly_once(groups, people)
        assert all(len(g) == 2 for g in groups)
        assert not met & set(groups), f"round {number} repeats a pair"
        met |= set(groups)
    assert len(met) == 42
