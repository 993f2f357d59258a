"""Check-ins end to end, the moment itself: consent, mood, a private note, sharing, and care
for a hard day — the real bot against the stand-in, on both backends."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, text

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import SupportRequest
from tests.e2e.checkins.world import (
    Grove,
    checkin,
    checkins_of,
    profile_of,
    run,
)
from tests.e2e.driver import settle
from tests.e2e.escalation.world import ALERT_TITLE, request_row
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage
from tests.helpers import FrozenClock

CONSENT_QUESTION = "Is it OK for Kinfolk to keep your check-ins?"
CARE_TITLE = "I'm sorry today is hard"
MOOD_WORDS = ["Really struggling", "Low", "Okay", "Good", "Great"]


def labels(message: StoredMessage) -> list[str]:
    return [c.get("label", "") for row in message.components for c in row.get("components", [])]


async def open_note(
    fake: FakeDiscord, message: StoredMessage, checkin_id: int, member: int
) -> InteractionHandle:
    opened = await fake.click(message, f"checkin:note:{checkin_id}", member)
    await opened.response()
    assert opened.modal is not None, "the note button should open a form"
    return opened


async def write_note(
    fake: FakeDiscord, saved: StoredMessage, checkin_id: int, member: int, note: str
) -> InteractionHandle:
    opened = await open_note(fake, saved, checkin_id, member)
    assert opened.modal is not None
    assert opened.modal["custom_id"] == f"checkin:note-form:{checkin_id}"
    sent = await fake.submit_modal(opened, {"checkin-note": note})
    await sent.response()
    return sent


async def set_up_channel(fake: FakeDiscord, grove: Grove) -> None:
    done = await run(fake, grove, grove.owner_id, "setup checkins", channel=grove.checkins_id)
    assert "Members can share their mood" in (await done.original_message()).content


async def set_up_escalation(fake: FakeDiscord, grove: Grove) -> None:
    options = {
        "alert_channel": grove.alerts_id,
        "moderator_role": grove.moderators_role,
        "support_channel": grove.support_id,
    }
    done = await run(fake, grove, grove.owner_id, "setup escalation", **options)
    assert done.is_ephemeral
    await done.original_message()


def alerts(fake: FakeDiscord, grove: Grove) -> list[StoredMessage]:
    return [
        m
        for m in fake.messages(grove.alerts_id)
        if m.embeds and m.embeds[0].get("title", "").endswith(ALERT_TITLE)
    ]


async def support_requests(db: Database) -> list[SupportRequest]:
    async with db.session() as session:
        return list((await session.scalars(select(SupportRequest))).all())


# ----- consent -------------------------------------------------------------------------


async def test_first_checkin_asks_first_and_stores_nothing_yet(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    handle = await run(fake, grove, grove.alice, "checkin")
    question = await handle.original_message()
    assert handle.is_ephemeral
    assert CONSENT_QUESTION in question.content
    assert set(question.custom_ids) == {
        f"checkin:consent:{grove.guild_id}:yes",
        f"checkin:consent:{grove.guild_id}:no",
    }
    assert await checkins_of(database, grove.alice) == []
    assert await profile_of(database, grove, grove.alice) is None


async def test_no_thanks_stores_nothing_and_says_so(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    question = await (await run(fake, grove, grove.alice, "checkin")).original_message()
    declined = await fake.click(question, f"checkin:consent:{grove.guild_id}:no", grove.alice)
    answer = await declined.original_message()
    assert "nothing was saved" in answer.content
    assert answer.components == []
    assert await checkins_of(database, grove.alice) == []
    profile = await profile_of(database, grove, grove.alice)
    assert profile is None or profile.checkin_consent_at is None
    again = await (await run(fake, grove, grove.alice, "checkin")).original_message()
    assert CONSENT_QUESTION in again.content


async def test_yes_then_a_mood_stores_one_and_next_time_goes_straight_to_moods(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    question = await (await run(fake, grove, grove.alice, "checkin")).original_message()
    agreed = await fake.click(question, f"checkin:consent:{grove.guild_id}:yes", grove.alice)
    picker = await agreed.original_message()
    assert labels(picker) == MOOD_WORDS  # words, not only emoji
    assert all(c.get("emoji") for row in picker.components for c in row["components"]), (
        "each mood keeps its emoji next to the word"
    )
    saved = await (
        await fake.click(picker, f"checkin:mood:{grove.guild_id}:5", grove.alice)
    ).original_message()
    assert "**Great**" in saved.content
    assert "first check-in" in saved.content
    rows = await checkins_of(database, grove.alice)
    assert [(r.user_id, r.mood, r.guild_id) for r in rows] == [(grove.alice, 5, grove.guild_id)]
    profile = await profile_of(database, grove, grove.alice)
    assert profile is not None
    assert profile.checkin_consent_at is not None

    second = await run(fake, grove, grove.alice, "checkin")
    picker2 = await second.original_message()
    assert second.is_ephemeral
    assert CONSENT_QUESTION not in picker2.content
    assert labels(picker2) == MOOD_WORDS
    assert len(await checkins_of(database, grove.alice)) == 1  # opening the picker saves nothing


# ----- private note ----------------------------------------------------------------------


async def test_private_note_is_encrypted_at_rest_and_answered_privately(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    saved = await checkin(fake, grove, grove.alice, 2)
    (row,) = await checkins_of(database, grove.alice)
    assert f"checkin:note:{row.id}" in saved.custom_ids
    secret = "Argued with my sister about the flat again"
    sent = await write_note(fake, saved, row.id, grove.alice, secret)
    reply = await sent.original_message()
    assert sent.is_ephemeral
    assert "Your note is saved, encrypted" in reply.content
    (row,) = await checkins_of(database, grove.alice)
    assert row.note == secret
    async with database.session() as session:
        raw = await session.scalar(text("select note from checkins"))
    assert raw is not None
    assert "sister" not in str(raw)


async def test_an_empty_note_is_refused_kindly_and_changes_nothing(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    saved = await checkin(fake, grove, grove.alice, 3)
    (row,) = await checkins_of(database, grove.alice)
    sent = await write_note(fake, saved, row.id, grove.alice, "   \n  ")
    reply = await sent.original_message()
    assert sent.is_ephemeral
    assert "Your note was empty, so I didn't save anything." in reply.content
    assert "error id" not in reply.content
    (row,) = await checkins_of(database, grove.alice)
    assert row.note is None


async def test_someone_elses_note_button_is_refused_and_changes_nothing(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    saved = await checkin(fake, grove, grove.alice, 4)
    (row,) = await checkins_of(database, grove.alice)
    await write_note(fake, saved, row.id, grove.alice, "alice's own words")
    sent = await write_note(fake, saved, row.id, grove.bob, "bob was here")
    reply = await sent.original_message()
    assert sent.is_ephemeral
    assert "I can't find that check-in of yours" in reply.content
    assert "nothing was changed" in reply.content
    (row,) = await checkins_of(database, grove.alice)
    assert row.note == "alice's own words"
    assert await checkins_of(database, grove.bob) == []


# ----- sharing ---------------------------------------------------------------------------


async def test_sharing_posts_the_mood_not_the_note_and_pings_nobody(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    await set_up_channel(fake, grove)
    saved = await checkin(fake, grove, grove.alice, 4)
    (row,) = await checkins_of(database, grove.alice)
    assert f"checkin:share:{row.id}" in saved.custom_ids
    await write_note(fake, saved, row.id, grove.alice, "the interview went fine")

    shared = await fake.click(saved, f"checkin:share:{row.id}", grove.alice)
    reply = await shared.original_message()
    assert shared.is_ephemeral
    assert f"Shared in <#{grove.checkins_id}>" in reply.content
    (post,) = fake.messages(grove.checkins_id)
    assert post.content == f"<@{grove.alice}> checked in: 🙂 **Good**"
    assert "interview" not in post.content
    assert not post.embeds
    assert not post.ephemeral
    assert fake.pinged(post) == set()
    (row,) = await checkins_of(database, grove.alice)
    assert row.shared_at is not None

    again = await fake.click(saved, f"checkin:share:{row.id}", grove.alice)
    refusal = await again.original_message()
    assert again.is_ephemeral
    assert "You've already shared this check-in." in refusal.content
    assert len(fake.messages(grove.checkins_id)) == 1


async def test_without_a_checkin_channel_there_is_no_share_button(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    saved = await checkin(fake, grove, grove.alice, 4)
    (row,) = await checkins_of(database, grove.alice)
    assert saved.custom_ids == [f"checkin:note:{row.id}"]
    assert fake.messages(grove.checkins_id) == []


# ----- care --------------------------------------------------------------------------------


async def test_really_struggling_offers_care_but_tells_nobody_by_itself(
    fake: FakeDiscord,
    grove: Grove,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await set_up_escalation(fake, grove)
    saved = await checkin(fake, grove, grove.alice, 1)
    assert "**Really struggling**" in saved.content
    assert [e["title"] for e in saved.embeds] == [CARE_TITLE]
    talk_id = f"checkin:talk:{grove.guild_id}"
    assert talk_id in saved.custom_ids
    assert "I'd like to talk to someone" in labels(saved)
    await settle(fake, database, clock)
    assert fake.messages(grove.alerts_id) == []
    assert await support_requests(database) == []

    tapped = await fake.click(saved, talk_id, grove.alice)
    answer = await tapped.original_message()
    assert tapped.is_ephemeral
    assert answer.embeds, "the member sees the talk answer and resources"
    row = await request_row(database, grove.alice)
    assert (row.guild_id, row.status, row.urgency) == (grove.guild_id, "open", "struggling")
    await fake.wait_for(lambda: len(alerts(fake, grove)) == 1, what="one alert posted")
    (alert,) = alerts(fake, grove)
    assert fake.pinged(alert) == {f"role:{grove.moderators_role}"}


async def test_a_sharp_drop_offers_care_and_an_ordinary_day_does_not(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    for _ in range(2):
        great = await checkin(fake, grove, grove.alice, 5)
        assert great.embeds == []
    dropped = await checkin(fake, grove, grove.alice, 3)  # average 5, Okay is 3: down by 2
    assert [e["title"] for e in dropped.embeds] == [CARE_TITLE]
    assert f"checkin:talk:{grove.guild_id}" in dropped.custom_ids

    for _ in range(2):
        await checkin(fake, grove, grove.bob, 5)
    ordinary = await checkin(fake, grove, grove.bob, 4)  # down by 1 only
    assert ordinary.embeds == []
    assert f"checkin:talk:{grove.guild_id}" not in ordinary.custom_ids
    first_low = await checkin(fake, grove, grove.owner_id, 2)  # no history to compare with
    assert first_low.embeds == []
    assert [r.mood for r in await checkins_of(database, grove.alice)] == [5, 5, 3]


async def answers_to(taps: list[InteractionHandle]) -> list[str]:
    """What each tap's answer said (each edits the same message, so read the callbacks)."""
    return [str((await tap.response())["data"].get("content", "")) for tap in taps]


async def test_two_taps_on_one_mood_message_save_one_checkin(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    """A double tap (two interactions a few ms apart) is one check-in; the second answer
    says so kindly. A member who taps another mood at once changes that one check-in."""
    await checkin(fake, grove, grove.alice, 3)  # consent given; one check-in so far
    picker = await (await run(fake, grove, grove.alice, "checkin")).original_message()
    good = f"checkin:mood:{grove.guild_id}:4"
    taps = await asyncio.gather(*(fake.click(picker, good, grove.alice) for _ in range(2)))
    first, second = sorted(await answers_to(taps), key=lambda a: a.startswith("Already"))
    assert first.startswith("Saved: 🙂 **Good**."), first
    assert second.startswith("Already saved: 🙂 **Good**."), second
    assert "One tap is enough; this is still one check-in." in second
    assert len(await checkins_of(database, grove.alice)) == 2

    picker = await (await run(fake, grove, grove.alice, "checkin")).original_message()
    low, great = (f"checkin:mood:{grove.guild_id}:{m}" for m in (2, 5))
    taps = list(
        await asyncio.gather(
            fake.click(picker, low, grove.alice), fake.click(picker, great, grove.alice)
        )
    )
    answers = await answers_to(taps)
    rows = await checkins_of(database, grove.alice)
    assert len(rows) == 3, "a change of mind on one message is still one check-in"
    kept = {2: "**Low**", 5: "**Great**"}[rows[-1].mood]
    [changed] = [a for a in answers if a.startswith("Changed to")]
    assert kept in changed, (answers, rows[-1].mood)
    assert "It's still one check-in" in changed


# ----- what the bot keeps of the buttons it sends ----------------------------------------


def view_timers() -> list[asyncio.Task]:
    """discord.py's 15-minute timer tasks, one per view it keeps for a private reply."""
    return [t for t in asyncio.all_tasks() if "timeout_task_impl" in repr(t.get_coro())]


async def test_the_bot_keeps_nothing_of_the_buttons_it_sends_and_they_still_work(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    """Every button is matched by its custom id's pattern, so no sent view need be kept:
    discord.py would keep each private reply's view (and a timer task) for 15 minutes,
    tens of thousands in a big server's morning."""
    await set_up_channel(fake, grove)
    question = await (await run(fake, grove, grove.alice, "checkin")).original_message()
    picker = await (
        await fake.click(question, f"checkin:consent:{grove.guild_id}:yes", grove.alice)
    ).original_message()
    saved = await (
        await fake.click(picker, f"checkin:mood:{grove.guild_id}:4", grove.alice)
    ).original_message()
    await (await run(fake, grove, grove.bob, "talk")).original_message()
    await (await run(fake, grove, grove.bob, "privacy delete")).original_message()

    store = kinfolk._connection._view_store
    assert store._views == {}
    assert store._synced_message_views == {}
    assert view_timers() == []
    assert kinfolk.persistent_views == []

    # The buttons on those replies work all the same: matched by pattern.
    [checkin_id] = [c.id for c in await checkins_of(database, grove.alice)]
    shared = await fake.click(saved, f"checkin:share:{checkin_id}", grove.alice)
    await shared.response()
    assert any("Good" in m.content for m in fake.messages(grove.checkins_id))
    picker = await (await run(fake, grove, grove.alice, "checkin")).original_message()
    again = await fake.click(picker, f"checkin:mood:{grove.guild_id}:2", grove.alice)
    assert "**Low**" in (await again.original_message()).content
    assert [c.mood for c in await checkins_of(database, grove.alice)] == [4, 2]
    assert view_timers() == []
