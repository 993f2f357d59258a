"""The smallest reproductions of bugs the fuzzers found, kept as regression tests now that
they are fixed. (While a bug is open, its test here is a strict xfail and the fuzz tests skip
exactly its cases in ``known_bugs.known_bug``.)"""

from __future__ import annotations

import logging

import pytest

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.driver import settle
from tests.e2e.fuzz.world import Hearth
from tests.fakediscord import FakeDiscord, InteractionHandle
from tests.helpers import FrozenClock


async def answer_of(fake: FakeDiscord, handle: InteractionHandle) -> str:
    """Everything the bot told the member in answer to ``handle``."""
    await handle.response()
    await fake.wait_for(lambda: handle.record.original is not None, what="an answer")
    messages = [m for m in (handle.record.original, *handle.followups) if m is not None]
    texts = [m.content for m in messages]
    for embed in (e for m in messages for e in m.embeds):
        texts += [embed.get("title") or "", embed.get("description") or ""]
        texts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields") or []]
    return "\n".join(texts)


@pytest.mark.parametrize("backend", ["sqlite"])  # not about storage: one backend
async def test_a_channel_the_bot_has_not_cached_gets_a_kind_answer(
    fake: FakeDiscord, hearth: Hearth, kinfolk: KinfolkBot, caplog: pytest.LogCaptureFixture
) -> None:
    # Created without a gateway event: Discord resolves it in the interaction, but the
    # bot's cache doesn't have it yet (a channel made seconds ago, a missed event).
    new = fake.world.add_text_channel(hearth.guild_id, "brand-new")
    caplog.set_level(logging.ERROR)
    handle = await fake.invoke(
        hearth.guild_id, hearth.general, hearth.owner, "setup checkins", {"channel": new.id}
    )
    text = await answer_of(fake, handle)
    assert "error id" not in text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("backend", ["sqlite"])  # not about storage: one backend
async def test_a_long_reachout_message_with_many_lines_is_summarised_within_discords_limit(
    fake: FakeDiscord, hearth: Hearth, kinfolk: KinfolkBot
) -> None:
    message = "a\n" * 500  # 1000 characters: the longest message /setup reachout accepts
    handle = await fake.invoke(
        hearth.guild_id,
        hearth.general,
        hearth.owner,
        "setup reachout",
        {"enabled": True, "message": message},
    )
    text = await answer_of(fake, handle)
    rejected = fake.take_violations()  # consumed, so the stand-in's own check stays quiet
    assert rejected == []
    assert "error id" not in text
    assert "Reach-out is **on**" in text


@pytest.mark.parametrize("backend", ["sqlite"])  # not about storage: one backend
async def test_a_reachout_message_naming_the_server_often_is_refused_when_saved(
    fake: FakeDiscord,
    hearth: Hearth,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    where = (hearth.guild_id, hearth.general)
    # 1000 characters as typed, but each {server} becomes the server's name in the DM: it
    # could never be sent, so it is refused now rather than retried in vain later.
    options = {"enabled": True, "threshold_days": 3, "message": "{server}" * 125}
    text = await answer_of(fake, await fake.invoke(*where, hearth.owner, "setup reachout", options))
    assert "Nothing was changed" in text
    assert "{server}" in text

    # Naming the server a couple of times is fine, and the DM goes out with the name in it.
    options["message"] = "Hi from {server}! We miss you at {server}."
    text = await answer_of(fake, await fake.invoke(*where, hearth.owner, "setup reachout", options))
    assert "Reach-out is **on**" in text
    await answer_of(fake, await fake.invoke(*where, hearth.alice, "reachout on"))
    await kinfolk.flush_participation()
    clock.advance(days=4)  # alice has been quiet for longer than the threshold
    kinfolk.outbox.wake()
    await settle(fake, database, clock)
    assert fake.take_violations() == []
    dms = fake.dm_messages(hearth.alice)
    assert len(dms) == 1
    assert "{server}" not in dms[0].content
