"""Offers of support end to end: /offer and its withdrawal, and a buddy round that pairs a
member whose circle has a gap with someone glad to give exactly that, with an intro that
mentions each member's offer only when they chose to share it — on both backends."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import SupportOffer
from tests.e2e.circles.world import Commons, add_name, open_circle, reply
from tests.e2e.driver import settle
from tests.fakediscord import Channel, FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

SEEDS = range(8)


async def offer_of(db: Database, commons: Commons, member: int) -> SupportOffer | None:
    async with db.session() as session:
        return await session.scalar(
            select(SupportOffer).where(
                SupportOffer.guild_id == commons.guild_id, SupportOffer.user_id == member
            )
        )


async def preview(fake: FakeDiscord, commons: Commons, seed: int) -> StoredMessage:
    return await reply(fake, commons, commons.owner_id, "setup buddies-round", seed=seed)


def groups(preview: StoredMessage) -> list[frozenset[int]]:
    """The groups a preview lists, one "• <@a> & <@b>" line each."""
    return [
        frozenset(int(m) for m in re.findall(r"<@(\d+)>", line))
        for line in preview.content.splitlines()
        if line.startswith("• ")
    ]


def threads(fake: FakeDiscord, commons: Commons) -> list[Channel]:
    return [t for t in fake.threads if t.parent_id == commons.buddies_id]


def people_in(fake: FakeDiscord, thread: Channel) -> frozenset[int]:
    return frozenset(thread.thread_members - {fake.world.bot_user.id})


async def test_offer_says_back_what_was_chosen_and_withdraw_takes_it_all_back(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    nothing = await reply(fake, commons, commons.bob, "offer")
    assert "You're not offering any support at the moment, and that's fine." in nothing.content
    assert await offer_of(database, commons, commons.bob) is None

    said = await reply(
        fake,
        commons,
        commons.bob,
        "offer",
        practical=True,
        informational=True,
        topics="job loss,  new parent, Job Loss",
    )
    assert said.content.startswith("You're glad to offer: 🧰 practical")
    assert "🧭 informational" in said.content
    assert "Topics you know from experience: job loss, new parent." in said.content
    assert "Your buddy's intro mentions this." in said.content
    row = await offer_of(database, commons, commons.bob)
    assert row is not None
    assert (row.kinds, row.share_with_buddy) == (["practical", "informational"], True)

    # Turning one kind off keeps the others; keeping it private is remembered.
    changed = await reply(
        fake, commons, commons.bob, "offer", informational=False, share_with_buddy=False
    )
    assert "🧰 practical" in changed.content
    assert "informational" not in changed.content.split("\n")[0]
    assert "Your buddy's intro won't mention this." in changed.content
    row = await offer_of(database, commons, commons.bob)
    assert row is not None
    assert (row.kinds, row.share_with_buddy) == (["practical"], False)

    gone = await reply(fake, commons, commons.bob, "offer", withdraw=True)
    assert gone.content.startswith("Done: you're not offering any support now.")
    assert await offer_of(database, commons, commons.bob) is None


async def test_a_round_pairs_a_gap_with_a_matching_offer_and_the_intro_says_what_was_shared(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice, bob, cai, dee = commons.alice, commons.bob, commons.cai, commons.dee
    await reply(fake, commons, commons.owner_id, "setup buddies", channel=commons.buddies_id)
    for member in (alice, bob, cai, dee):
        joined = await reply(fake, commons, member, "buddy join")
        assert joined.content.startswith("You're in!"), joined.content
    # alice's circle has someone to listen, and nobody for practical help (a gap).
    circle = await open_circle(fake, commons, alice)
    await add_name(fake, commons, circle, alice, "emotional", "my sister Ines")

    # Before anyone offers anything, the seed decides: alice is not always with bob.
    before = [groups(await preview(fake, commons, seed)) for seed in SEEDS]
    assert all(len(g) == 2 for g in before)
    assert not all(frozenset({alice, bob}) in g for g in before)

    # bob is glad to give practical help and shares it; cai offers listening, privately
    # (and listening is no gap of alice's: only bob's offer meets one).
    await reply(fake, commons, bob, "offer", practical=True, topics="moving house")
    await reply(fake, commons, cai, "offer", emotional=True, share_with_buddy=False)
    after = [groups(await preview(fake, commons, seed)) for seed in SEEDS]
    assert all(frozenset({alice, bob}) in g for g in after), after

    first = await preview(fake, commons, SEEDS[0])
    [start_id] = [c["custom_id"] for row in first.components for c in row["components"]]
    started = await fake.click(first, start_id, commons.owner_id)
    assert (await started.answer()).content.startswith("Round 1 has started")
    await settle(fake, database, clock)

    by_pair = {people_in(fake, t): t for t in threads(fake, commons)}
    assert set(by_pair) == {frozenset({alice, bob}), frozenset({cai, dee})}
    [intro] = fake.messages(by_pair[frozenset({alice, bob})].id)
    assert (
        f"<@{bob}> is glad to offer practical support (help with tasks, meals, lifts); "
        "advice on moving house."
    ) in intro.content
    assert f"<@{alice}> is glad to offer" not in intro.content  # alice offers nothing
    [other] = fake.messages(by_pair[frozenset({cai, dee})].id)
    assert "glad to offer" not in other.content  # cai chose not to share
    assert "listens" not in other.content
    assert fake.pinged(intro) == {f"user:{alice}", f"user:{bob}"}
