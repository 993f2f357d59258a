"""Milestones end to end: a member who opted in from /circle has a 7-day check-in streak
celebrated in the server's milestone channel (across days on the injected clock); a member
who never opted in, or opted out again, has nothing posted — on both backends."""

from __future__ import annotations

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.circles.world import (
    Commons,
    click,
    open_circle,
    outbox_rows,
    run,
    setup_circles,
)
from tests.e2e.driver import settle
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

STREAK = "has checked in 7 days in a row"


async def checkin(fake: FakeDiscord, commons: Commons, member: int, mood: int = 4) -> str:
    """/checkin, agreeing first if asked, then tapping `mood`; returns the saved answer."""
    g = commons.guild_id
    message = await (await run(fake, commons, member, "checkin")).original_message()
    consent = f"checkin:consent:{g}:yes"
    if any(c.get("custom_id") == consent for row in message.components for c in row["components"]):
        message = await click(fake, message, consent, member)
    return (await click(fake, message, f"checkin:mood:{g}:{mood}", member)).content


async def milestones(fake: FakeDiscord, commons: Commons, member: int, on: bool) -> str:
    circle = await open_circle(fake, commons, member)
    cid = f"circle:milestones:{commons.guild_id}:{'on' if on else 'off'}"
    return (await click(fake, circle, cid, member)).content


def posts(fake: FakeDiscord, commons: Commons) -> list[StoredMessage]:
    return fake.messages(commons.milestones_id)


async def week_of_checkins(
    fake: FakeDiscord,
    commons: Commons,
    clock: FrozenClock,
    members: list[int],
) -> list[str]:
    """Each member checks in once a day for 7 days; returns the last day's answers."""
    answers: list[str] = []
    for day in range(7):
        if day:
            clock.advance(days=1)
        answers = [await checkin(fake, commons, member) for member in members]
    return answers


async def test_an_opted_in_member_has_their_seven_day_streak_celebrated(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    answer = await setup_circles(fake, commons, milestone_channel=commons.milestones_id)
    assert f"celebrated in <#{commons.milestones_id}> for members who opt in" in answer
    done = await milestones(fake, commons, commons.alice, on=True)
    assert done.startswith("Done: your milestones")

    for day in range(6):
        if day:
            clock.advance(days=1)
        await checkin(fake, commons, commons.alice)
    await settle(fake, database, clock)
    assert posts(fake, commons) == []  # six days is not a milestone

    clock.advance(days=1)
    seventh = await checkin(fake, commons, commons.alice)
    assert "7 days in a row" in seventh
    await fake.wait_for(lambda: posts(fake, commons), what="the milestone post")
    await settle(fake, database, clock)
    [post] = posts(fake, commons)
    assert post.content == f"🎉 <@{commons.alice}> {STREAK}. Lovely to see!"
    assert not post.ephemeral
    assert fake.pinged(post) == set()  # celebrated, not pinged

    clock.advance(days=1)  # day 8: the same milestone is not celebrated again
    await checkin(fake, commons, commons.alice)
    await settle(fake, database, clock)
    assert len(posts(fake, commons)) == 1
    streaks = [
        (r.payload["user_id"], r.payload["value"], r.status)
        for r in await outbox_rows(database, "circle_milestone")
        if r.payload["kind"] == "streak"
    ]
    assert streaks == [(commons.alice, 7, "sent")]


async def test_nothing_is_posted_for_members_who_did_not_opt_in_or_opted_out(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await setup_circles(fake, commons, milestone_channel=commons.milestones_id)
    # alice opts in and then out again; bob never opts in; cai opts in (to show a post
    # would have arrived by now).
    assert (await milestones(fake, commons, commons.alice, on=True)).startswith("Done")
    off = await milestones(fake, commons, commons.alice, on=False)
    assert off == "Done: your milestones won't be celebrated publicly."
    await milestones(fake, commons, commons.cai, on=True)

    last = await week_of_checkins(fake, commons, clock, [commons.alice, commons.bob, commons.cai])
    assert all("7 days in a row" in answer for answer in last)
    await fake.wait_for(lambda: posts(fake, commons), what="cai's milestone post")
    await settle(fake, database, clock)
    assert [p.content for p in posts(fake, commons)] == [
        f"🎉 <@{commons.cai}> {STREAK}. Lovely to see!"
    ]
    streaks = [
        r.payload["user_id"]
        for r in await outbox_rows(database, "circle_milestone")
        if r.payload["kind"] == "streak"
    ]
    assert streaks == [commons.cai]
