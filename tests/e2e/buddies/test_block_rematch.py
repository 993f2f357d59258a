"""/buddy block and /buddy rematch end to end: a block is private and absolute (and quietly
ends a running pairing); a rematch after "not a good fit" pairs a free member at once, in a new
private thread — on both backends."""

from __future__ import annotations

from datetime import timedelta

from bot.db.engine import Database
from bot.services.buddies.connect import Answer
from bot.services.buddies.texts import CHECKUP, GROUP_SMALLER, PAIRING_ENDED
from bot.services.privacy import member_data
from tests.e2e.buddies.world import (
    Meadow,
    answer,
    blocks_of,
    buddy_of,
    buddy_threads,
    checkups,
    groups_of,
    halfway,
    ids,
    join,
    members_of,
    move_to,
    participant,
    placed_exactly_once,
    reply,
    round_threads,
    rounds_of,
    run,
    set_up,
    start_round,
    together,
)
from tests.e2e.conftest import StartBot
from tests.e2e.privacy.test_my_data import DELETE_BUTTON
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

FOUR = ("ana", "ben", "cai", "dee")
BLOCKED = "Done. You will never be paired with them, and they won't be told."
BLOCKED_BUDDY = (
    "Done. You will never be paired with them, and they won't be told. Your pairing with "
    "them this round has ended and its thread is closed; they hear only that the pairing "
    "ended, as for any pairing that ends. You'll be first in line next round."
)
BLOCKED_IN_TRIO = (
    "Done. You will never be paired with them, and they won't be told. You've left your "
    "group's thread for this round; the other two carry on as a pair. You'll be first in "
    "line next round."
)
NOBODY_FREE = (
    "Nobody is free for a new pairing right now, so you'll be first in line when the next "
    "round starts."
)


async def ready(
    fake: FakeDiscord, meadow: Meadow, start_bot: StartBot, names: tuple[str, ...] = FOUR
) -> None:
    """Rounds of 10 days, so a round's halfway point (day 5) comes before the first
    scheduled start (Monday 12 January), which would end it."""
    await start_bot()
    await set_up(fake, meadow, round_days=10)
    await join(fake, meadow, *names)


async def block(
    fake: FakeDiscord, meadow: Meadow, member: int, other: int, told: str = BLOCKED
) -> None:
    handle = await run(fake, meadow, member, "buddy block", member=other)
    said = await handle.original_message()
    assert handle.is_ephemeral
    assert said.content == told
    assert fake.pinged(said) == set()


async def not_a_good_fit(
    fake: FakeDiscord, meadow: Meadow, database: Database, clock: FrozenClock, member: int
) -> None:
    """At the first round's halfway point `member` answers "not a good fit"."""
    await halfway(fake, meadow, database, clock)
    await answer(fake, member, Answer.NOT_FIT)
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))


async def test_a_block_is_private_and_the_blocked_member_is_never_told(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await ready(fake, meadow, start_bot)
    ana, ben = ids(meadow, "ana", "ben")
    await block(fake, meadow, ana, ben)
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=5))
    assert await blocks_of(database, meadow) == [(ana, ben, "block")]
    assert fake.dm_messages(ben) == []
    assert fake.messages(meadow.general_id, ephemeral=False) == []
    assert fake.messages(meadow.buddies_id) == []
    # ben still takes part as before, and his status says nothing about it.
    status = await reply(fake, meadow, ben, "buddy status")
    assert "block" not in status.lower()
    assert str(ana) not in status

    refused = await reply(fake, meadow, ana, "buddy block", member=ana)
    assert refused == "You can't block yourself."


async def test_a_blocked_pair_never_shares_a_group(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await ready(fake, meadow, start_bot)
    people = ids(meadow, *FOUR)
    ana, ben = ids(meadow, "ana", "ben")
    await block(fake, meadow, ben, ana)  # whoever blocks whom, it holds both ways
    for _ in range(4):
        await start_round(fake, meadow, database, clock)
        await move_to(fake, database, clock, clock.now() + timedelta(days=1))
    assert [r.number for r in await rounds_of(database, meadow)] == [1, 2, 3, 4]
    for number in (1, 2, 3, 4):
        groups = groups_of(fake, meadow, number)
        assert placed_exactly_once(groups, people)
        assert not together(groups, ana, ben), f"blocked pair together in round {number}"


async def test_blocking_your_current_buddy_quietly_ends_the_pairing(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await ready(fake, meadow, start_bot)
    await start_round(fake, meadow, database, clock)
    ana = meadow.members["ana"]
    buddy = buddy_of(fake, meadow, ana)
    [thread] = [t for t in round_threads(fake, meadow, 1) if ana in members_of(fake, t)]
    await block(fake, meadow, ana, buddy, BLOCKED_BUDDY)
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))

    # Their shared space is gone: archived and locked, the thread takes no more messages
    # from either of them (only from moderators who can manage threads).
    assert thread.archived
    assert thread.locked

    # The buddy hears only that the pairing ended: the same words as for any other reason.
    [ended] = fake.dm_messages(buddy)
    assert ended.content == PAIRING_ENDED
    assert "block" not in ended.content.lower()
    assert str(ana) not in ended.content
    assert fake.dm_messages(ana) == []
    for member in (ana, buddy):
        status = await reply(fake, meadow, member, "buddy status")
        assert "You don't have a buddy right now" in status
    # Halfway through, only the pair still running is asked how it's going.
    await move_to(fake, database, clock, clock.now() + timedelta(days=5))
    assert checkups(fake, ana) == []
    assert checkups(fake, buddy) == []
    for other in set(ids(meadow, *FOUR)) - {ana, buddy}:
        assert [m.content for m in checkups(fake, other)] == [CHECKUP]


async def test_a_rematch_pairs_a_free_member_at_once_in_a_new_private_thread(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await ready(fake, meadow, start_bot)
    await start_round(fake, meadow, database, clock)
    eli = meadow.members["eli"]
    await join(fake, meadow, "eli")  # joined after the round started: free this round
    ana = meadow.members["ana"]
    ben = buddy_of(fake, meadow, ana)
    await not_a_good_fit(fake, meadow, database, clock, ana)
    assert fake.dm_messages(ben)[-1].content == PAIRING_ENDED
    before = {t.id for t in buddy_threads(fake, meadow)}

    handle = await run(fake, meadow, ana, "buddy rematch")
    said = await handle.original_message()
    assert handle.is_ephemeral
    assert said.content == (
        f"I've paired you with <@{eli}>. I'm opening a private thread for you two now."
    )
    assert fake.pinged(said) == set()
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))
    [thread] = [t for t in buddy_threads(fake, meadow) if t.id not in before]
    assert thread.type == 12
    assert thread.invitable is False
    assert thread.parent_id == meadow.buddies_id
    assert members_of(fake, thread) == {ana, eli}
    [intro] = fake.messages(thread.id)
    assert fake.pinged(intro) == {f"user:{ana}", f"user:{eli}"}
    status = await reply(fake, meadow, ana, "buddy status")
    assert f"Your buddy this round: <@{eli}>." in status
    assert f"Your thread: <#{thread.id}>." in status

    # ben is free too, but the only other free member is ana, whom he can't be paired with.
    assert await reply(fake, meadow, ben, "buddy rematch") == NOBODY_FREE
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))
    assert len(buddy_threads(fake, meadow)) == len(before) + 1


async def test_a_rematch_with_nobody_free_puts_you_first_in_line(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await ready(fake, meadow, start_bot)
    await start_round(fake, meadow, database, clock)
    ana = meadow.members["ana"]
    await not_a_good_fit(fake, meadow, database, clock, ana)
    threads = len(buddy_threads(fake, meadow))

    assert await reply(fake, meadow, ana, "buddy rematch") == NOBODY_FREE
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))
    assert len(buddy_threads(fake, meadow)) == threads
    row = await participant(database, meadow, ana)
    assert row is not None
    assert row.wants_rematch is True

    # Someone with a buddy is told so instead.
    cai = next(m for m in ids(meadow, "cai", "dee") if m != buddy_of(fake, meadow, ana))
    busy = await reply(fake, meadow, cai, "buddy rematch")
    assert busy.startswith("You already have a buddy this round")


async def test_blocking_someone_in_your_trio_takes_you_out_of_its_thread(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await ready(fake, meadow, start_bot, ("ana", "ben", "cai"))
    await start_round(fake, meadow, database, clock)
    ana, ben, cai = ids(meadow, "ana", "ben", "cai")
    [thread] = round_threads(fake, meadow, 1)
    assert members_of(fake, thread) == {ana, ben, cai}

    thread.archived = True  # a quiet week: Discord archived it by itself
    await block(fake, meadow, ana, ben, BLOCKED_IN_TRIO)
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))

    # What the other two are told is what happened: the thread is theirs now (reopened, so
    # that Discord would take the change).
    assert members_of(fake, thread) == {ben, cai}
    assert not thread.archived
    for member in (ben, cai):
        assert [m.content for m in fake.dm_messages(member)] == [GROUP_SMALLER]
        status = await reply(fake, meadow, member, "buddy status")
        assert str(ana) not in status
    assert fake.dm_messages(ana) == []
    assert "You don't have a buddy right now" in await reply(fake, meadow, ana, "buddy status")


async def test_a_bot_cannot_be_blocked(
    fake: FakeDiscord, meadow: Meadow, start_bot: StartBot, database: Database
) -> None:
    await start_bot()
    await set_up(fake, meadow)
    helper = fake.world.add_member(meadow.guild_id, "helper-bot", bot=True).id
    refused = await reply(fake, meadow, meadow.members["ana"], "buddy block", member=helper)
    assert refused == "Bots are never anyone's buddy, so there's no need to block one."
    assert await blocks_of(database, meadow) == []


async def erase(fake: FakeDiscord, meadow: Meadow, member: int) -> str:
    """/privacy delete and its confirmation button; what the member is told."""
    warning = await (await run(fake, meadow, member, "privacy delete")).original_message()
    pressed = await fake.click(warning, DELETE_BUTTON.format(guild=meadow.guild_id), member)
    return (await pressed.answer()).content


async def test_erasing_your_data_in_a_trio_takes_you_out_of_its_thread(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    """Erasure during a round: the trio goes on as a pair exactly as if ana had left (the
    same neutral words), and she really is taken out of the Discord thread, although
    every row naming her is gone by the time that is done."""
    await ready(fake, meadow, start_bot, ("ana", "ben", "cai"))
    await start_round(fake, meadow, database, clock)
    ana, ben, cai = ids(meadow, "ana", "ben", "cai")
    [thread] = round_threads(fake, meadow, 1)
    assert members_of(fake, thread) == {ana, ben, cai}

    assert "erased" in (await erase(fake, meadow, ana)).lower()
    async with database.read() as session:
        assert await member_data.scan(session, ana) == []  # nothing names her, in the clear
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))

    assert members_of(fake, thread) == {ben, cai}
    for member in (ben, cai):
        assert [m.content for m in fake.dm_messages(member)] == [GROUP_SMALLER]
        assert str(ana) not in await reply(fake, meadow, member, "buddy status")
    assert "You're not in the buddy programme" in await reply(fake, meadow, ana, "buddy status")


async def test_erasing_your_data_in_a_pair_closes_its_thread_and_tells_your_buddy_kindly(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await ready(fake, meadow, start_bot, ("ana", "ben"))
    await start_round(fake, meadow, database, clock)
    ana, ben = ids(meadow, "ana", "ben")
    [thread] = round_threads(fake, meadow, 1)

    await erase(fake, meadow, ana)
    await move_to(fake, database, clock, clock.now() + timedelta(minutes=1))

    assert thread.archived
    assert thread.locked
    assert [m.content for m in fake.dm_messages(ben)] == [PAIRING_ENDED]
    assert fake.dm_messages(ana) == []
    assert (await participant(database, meadow, ben)).wants_rematch
