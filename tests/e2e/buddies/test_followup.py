"""The mid-round question end to end: one private DM per buddy at the round's halfway point,
its three buttons, and "It's not a good fit" quietly ending the pairing for good — on both
backends."""

from __future__ import annotations

from datetime import timedelta

from bot.db.engine import Database
from bot.services.buddies.connect import REPLIES, Answer
from bot.services.buddies.texts import CHECKUP, GROUP_SMALLER, PAIRING_ENDED
from tests.e2e.buddies.world import (
    Meadow,
    answer,
    blocks_of,
    buddy_of,
    dm_texts,
    group_in,
    groups_of,
    halfway,
    ids,
    join,
    move_to,
    reply,
    rounds_of,
    set_up,
    start_round,
    together,
)
from tests.e2e.conftest import StartBot
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

FOUR = ("ana", "ben", "cai", "dee")


async def round_with(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
    names: tuple[str, ...] = FOUR,
) -> None:
    """A 10-day round started by hand on Monday 5 January at noon. (Its halfway point comes
    before the first scheduled start, Monday 12 January at 10:00; see test_schedule_gaps.py.)"""
    await start_bot()
    await set_up(fake, meadow, round_days=10)
    await join(fake, meadow, *names)
    await start_round(fake, meadow, database, clock)


async def test_each_buddy_is_asked_once_halfway_through(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await round_with(fake, meadow, start_bot, database, clock)
    people = ids(meadow, *FOUR)
    started = clock.now()
    await move_to(fake, database, clock, started + timedelta(days=5, minutes=-1))
    assert all(fake.dm_messages(m) == [] for m in people)

    await move_to(fake, database, clock, started + timedelta(days=5))
    await start_bot()  # a restart after the questions went out does not repeat them
    await move_to(fake, database, clock, started + timedelta(days=6))
    for member in people:
        [question] = fake.dm_messages(member)
        assert question.content == CHECKUP
        group = group_in(question)
        assert question.custom_ids == [
            f"buddy:connect:{group}:yes",
            f"buddy:connect:{group}:not_yet",
            f"buddy:connect:{group}:not_fit",
        ]
        labels = [c["label"] for c in question.components[0]["components"]]
        assert labels == ["Yes, we connected", "Not yet", "It's not a good fit"]
        # Buddies share the group in their buttons; the other pair has another.
        buddy = buddy_of(fake, meadow, member)
        assert group_in(fake.dm_messages(buddy)[0]) == group
        strangers = set(people) - {member, buddy}
        assert all(group_in(fake.dm_messages(s)[0]) != group for s in strangers)


async def test_yes_and_not_yet_get_a_warm_reply_in_place(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await round_with(fake, meadow, start_bot, database, clock)
    await halfway(fake, meadow, database, clock)
    ana = meadow.members["ana"]
    buddy = buddy_of(fake, meadow, ana)

    edited = await answer(fake, ana, Answer.YES)
    assert edited.content == REPLIES[Answer.YES]
    assert edited.custom_ids == []
    [dm] = fake.dm_messages(ana)  # the question itself became the reply
    assert dm.id == edited.id
    other = next(m for m in ids(meadow, *FOUR) if m not in (ana, buddy))
    await answer(fake, other, Answer.NOT_YET)
    [dm] = fake.dm_messages(other)
    assert dm.content == REPLIES[Answer.NOT_YET]

    await move_to(fake, database, clock, clock.now() + timedelta(minutes=5))
    # Nobody else heard anything, and the pairings stand.
    assert dm_texts(fake, buddy) == [CHECKUP]
    assert await blocks_of(database, meadow) == []
    status = await reply(fake, meadow, ana, "buddy status")
    assert f"Your buddy this round: <@{buddy}>." in status
    other_buddy = buddy_of(fake, meadow, other)
    status = await reply(fake, meadow, other, "buddy status")
    assert f"Your buddy this round: <@{other_buddy}>." in status


async def test_not_a_good_fit_ends_the_pairing_quietly_and_for_good(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await round_with(fake, meadow, start_bot, database, clock)
    await halfway(fake, meadow, database, clock)
    ana = meadow.members["ana"]
    ben = buddy_of(fake, meadow, ana)

    edited = await answer(fake, ana, Answer.NOT_FIT)
    assert edited.content == REPLIES[Answer.NOT_FIT]
    assert edited.custom_ids == []
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))

    [question, ended] = fake.dm_messages(ben)
    assert ended.content == PAIRING_ENDED
    assert "fit" not in ended.content.lower()
    assert str(ana) not in ended.content
    assert fake.pinged(ended) == set()
    # ben's own question can no longer be answered: the pairing is over.
    late = await fake.click(question, f"buddy:connect:{group_in(question)}:yes", ben)
    assert "already ended" in (await late.original_message()).content
    assert late.is_ephemeral
    assert question.content == CHECKUP  # left as it was
    # Nobody else was told anything.
    for other in set(ids(meadow, *FOUR)) - {ana, ben}:
        assert dm_texts(fake, other) == [CHECKUP]

    assert await blocks_of(database, meadow) == [(ana, ben, "not_fit")]
    for member in (ana, ben):
        status = await reply(fake, meadow, member, "buddy status")
        assert "You don't have a buddy right now" in status
        assert "Your buddy this round" not in status

    for _ in range(3):  # three more rounds by hand (and one on schedule, on the 12th)
        await move_to(fake, database, clock, clock.now() + timedelta(days=1))
        await start_round(fake, meadow, database, clock)
    later = [r.number for r in await rounds_of(database, meadow)][1:]
    assert len(later) >= 3
    for number in later:
        groups = groups_of(fake, meadow, number)
        assert len(groups) == 2
        assert not together(groups, ana, ben), f"paired again in round {number}"


async def test_not_a_good_fit_in_a_trio_leaves_the_other_two_as_a_pair(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await round_with(fake, meadow, start_bot, database, clock, ("ana", "ben", "cai", "dee", "eli"))
    await halfway(fake, meadow, database, clock)
    [trio] = [g for g in groups_of(fake, meadow, 1) if len(g) == 3]
    leaver, *rest = sorted(trio)

    await answer(fake, leaver, Answer.NOT_FIT)
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))
    for member in rest:
        assert dm_texts(fake, member) == [CHECKUP, GROUP_SMALLER]
        status = await reply(fake, meadow, member, "buddy status")
        [other] = set(rest) - {member}
        assert f"Your buddy this round: <@{other}>." in status
    assert sorted((a, b) for a, b, _ in await blocks_of(database, meadow)) == [
        (leaver, m) for m in sorted(rest)
    ]
