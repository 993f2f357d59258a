"""'I need to talk' end to end, the member's side: asking, adding words, cancelling, and
always seeing where help is — on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.services.escalation import requests
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.e2e.escalation.world import (
    RESOURCE_MARKERS,
    Circle,
    alert_texts,
    alerts,
    configure,
    embed_text,
    field,
    request_row,
    talk,
    the_alert,
)
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock


@pytest.mark.parametrize("feeling", ["chat", "struggling", "crisis"])
async def test_each_urgency_answers_at_once_and_alerts_moderators(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, feeling: str
) -> None:
    handle = await talk(fake, circle, circle.alice, feeling)
    answer = await handle.original_message()
    assert handle.is_ephemeral
    text_shown = embed_text(answer.embeds)
    assert all(marker in text_shown for marker in RESOURCE_MARKERS)
    first = answer.embeds[0]["title"]
    if feeling == "crisis":
        assert first == "🆘 If you need help right now"  # resources first and prominent
    else:
        assert first == "I'm here, and the team has been told"
    row = await request_row(database, circle.alice)
    assert (row.urgency, row.status) == (feeling, "open")
    alert = await the_alert(fake, circle)
    assert fake.pinged(alert) == {f"role:{circle.moderators_role}"}
    assert field(alert, "Member") == f"<@{circle.alice}>"
    assert "Waiting" in field(alert, "Status")

    async def recorded() -> bool:
        return (await request_row(database, circle.alice)).alert_message_id == alert.id

    await fake.wait_for(recorded, what="the alert's message id recorded")


async def test_picker_then_one_tap(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database
) -> None:
    picker = await talk(fake, circle, circle.alice)
    message = await picker.original_message()
    assert picker.is_ephemeral
    chosen = await fake.click(message, "talk:start:struggling", circle.alice)
    answer = await chosen.original_message()
    assert "I'm here" in embed_text(answer.embeds)
    # The answer takes the picker's place: no feeling is left to tap above it.
    assert answer.id == message.id
    assert message.content == ""
    assert not [c for c in set(message.custom_ids) if c.startswith("talk:start:")]
    request_id = (await request_row(database, circle.alice)).id
    assert set(message.custom_ids) == {f"talk:context:{request_id}", f"talk:cancel:{request_id}"}
    alert = await the_alert(fake, circle)
    assert "Struggling" in field(alert, "Urgency")


async def test_context_is_encrypted_and_shown_only_on_request(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, backend: str
) -> None:
    secret = f"I lost my job today and @everyone keeps asking <@&{circle.moderators_role}>"
    answer = await (await talk(fake, circle, circle.alice, "struggling")).original_message()
    request_id = (await request_row(database, circle.alice)).id
    opened = await fake.click(answer, f"talk:context:{request_id}", circle.alice)
    await opened.response()
    assert opened.modal is not None
    submitted = await fake.submit_modal(opened, {"talk-context": secret})
    assert "added that" in (await submitted.original_message()).content
    # At rest: not in the database, whichever backend.
    async with database.session() as session:
        stored = await session.scalar(text("SELECT context FROM support_requests"))
    assert secret not in stored
    if backend == "sqlite":
        raw = b"".join(p.read_bytes() for p in Path(database.engine.url.database).parent.glob("*"))
        assert b"lost my job" not in raw
    alert = await the_alert(fake, circle)
    assert "lost my job" not in str(alert.embeds)  # not left in channel history
    shown = await fake.click(alert, f"talk:show:{request_id}", circle.mod)
    reply = await shown.original_message()
    assert shown.is_ephemeral
    assert reply.embeds[0]["description"] == secret


async def test_second_talk_offers_to_add_instead_of_duplicating(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database
) -> None:
    await talk(fake, circle, circle.alice, "struggling")
    await the_alert(fake, circle)
    again = await talk(fake, circle, circle.alice, "chat")  # no more urgent
    reply = await again.original_message()
    assert "already have a request open" in reply.content
    request_id = (await request_row(database, circle.alice)).id
    assert {f"talk:context:{request_id}", f"talk:cancel:{request_id}"} <= set(reply.custom_ids)
    assert len(alerts(fake, circle)) == 1


async def test_member_cancels_and_the_ladder_stops(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    answer = await (await talk(fake, circle, circle.alice, "chat")).original_message()
    request_id = (await request_row(database, circle.alice)).id
    await the_alert(fake, circle)
    cancelled = await fake.click(answer, f"talk:cancel:{request_id}", circle.alice)
    await cancelled.response()
    assert "closed your request" in (await cancelled.original_message()).content
    await fake.wait_for(
        lambda: "OK now" in field(alerts(fake, circle)[0], "Status"), what="alert updated"
    )
    clock.advance(minutes=30)
    await settle(fake, database, clock)
    assert alert_texts(fake, circle) == []
    assert fake.dm_messages(circle.alice) == []
    # A cancelled request cannot be claimed.
    assert fake.messages(circle.alerts_id)[0].components  # buttons remain for the record


async def test_server_resources_come_first_and_user_text_pings_nobody(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot
) -> None:
    chosen = await fake.invoke(
        *circle.where(circle.owner_id), "setup resources", options={"mode": "extend"}
    )
    await chosen.response()
    assert chosen.modal is not None
    line = "@everyone Our counsellor: call 0800 123 456"
    saved = await fake.submit_modal(chosen, {"resources-lines": line})
    await saved.original_message()
    answer = await (await talk(fake, circle, circle.alice, "struggling")).original_message()
    resources = next(e for e in answer.embeds if "Support you can reach" in e["title"])
    assert resources["description"].split("\n• ")[1] == line
    assert "988" in resources["description"]


@pytest.mark.parametrize("failure", ["unreachable", "too slow"])
async def test_a_failed_save_still_shows_crisis_resources_in_time(
    fake: FakeDiscord,
    circle: Circle,
    ready: KinfolkBot,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    async def broken(*_: object, **__: object) -> None:
        if failure == "too slow":
            await asyncio.sleep(3.5)  # e.g. the database is restarting
        raise ConnectionRefusedError("database restarting")

    monkeypatch.setattr(requests, "open_request", broken)
    handle = await talk(fake, circle, circle.alice, "crisis")
    answer = await handle.original_message()  # the stand-in fails the test past 3 s
    assert handle.is_ephemeral
    if failure == "too slow":
        # Answered at once with where help is; told the outcome when the save gives up.
        assert "taking longer than it should" in answer.content
        await fake.wait_for(lambda: handle.followups, timeout=10, what="the follow-up")
        [told] = handle.followups
        assert told.ephemeral
        assert "couldn't save your request" in told.content
        assert "error id" not in told.content
    else:
        assert "couldn't save your request" in answer.content
    assert "error id" not in answer.content  # an outage, not a bug
    assert all(marker in embed_text(answer.embeds) for marker in RESOURCE_MARKERS)
    assert answer.embeds[0]["title"] == "🆘 If you need help right now"


async def test_a_slow_save_is_not_cut_off_and_the_member_is_told_when_it_is_saved(
    fake: FakeDiscord,
    circle: Circle,
    ready: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = requests.open_request

    async def slow(*args: object, **kwargs: object) -> object:
        await asyncio.sleep(3)  # longer than the 2.2 s budget: a database under load
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(requests, "open_request", slow)
    handle = await talk(fake, circle, circle.alice, "crisis")
    answer = await handle.original_message()  # in time: the stand-in fails the test past 3 s
    assert "taking longer than it should" in answer.content
    assert all(marker in embed_text(answer.embeds) for marker in RESOURCE_MARKERS)
    await fake.wait_for(lambda: handle.followups, timeout=10, what="the follow-up")
    [told] = handle.followups
    assert told.ephemeral
    assert "saved now" in told.content
    # The request is whole: saved once, its alert posted, the member's buttons under the note.
    row = await request_row(database, circle.alice)
    assert row.status == "open"
    assert f"talk:cancel:{row.id}" in set(told.custom_ids)
    await settle(fake, database, clock)
    await the_alert(fake, circle)  # exactly one alert posted


async def test_a_form_opened_before_a_restart_can_be_sent_after_it(
    fake: FakeDiscord, circle: Circle, start_bot: StartBot, database: Database
) -> None:
    await start_bot()
    await configure(fake, circle)
    answer = await (await talk(fake, circle, circle.alice, "struggling")).original_message()
    request_id = (await request_row(database, circle.alice)).id
    opened = await fake.click(answer, f"talk:context:{request_id}", circle.alice)
    await opened.response()
    assert opened.modal is not None
    await start_bot()  # Kinfolk restarts while the member is typing
    sent = await fake.submit_modal(opened, {"talk-context": "it's been a long week"})
    reply = await sent.original_message()
    assert sent.is_ephemeral
    assert "added that" in reply.content
    row = await request_row(database, circle.alice)
    assert (row.id, row.context) == (request_id, "it's been a long week")
