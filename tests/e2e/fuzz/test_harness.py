"""The fuzzers' checks can fail: each property, broken on purpose, is reported.

A fuzz test that passes proves something only if its checks catch what they promise, so
here every kind of failure is staged against the live stand-in and must make
``Fuzzer.check`` (or ``Fuzzer.answered``) fail with a message that names it.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import profiles
from tests.e2e.fuzz import harness
from tests.e2e.fuzz.harness import Fuzzer, stray_pings
from tests.e2e.fuzz.strategies import free_text, mention_ids, options_for
from tests.e2e.fuzz.world import build_hearth
from tests.fakediscord import StoredMessage


def test_stray_pings_are_mass_mentions_and_typed_ids_kinfolk_did_not_mean() -> None:
    intended = {"role:1", "user:2"}
    assert stray_pings({"everyone"}, set(), intended) == {"everyone"}
    assert stray_pings({"here", "role:1"}, {1}, intended) == {"here"}
    assert stray_pings({"user:3", "role:4"}, {3}, intended) == {"user:3"}
    assert stray_pings({"user:2", "role:1"}, {1, 2}, intended) == set()


def test_mention_ids_finds_user_nickname_and_role_mentions() -> None:
    assert mention_ids("<@1> <@!2> <@&3> <#4> @everyone <@x>") == {1, 2, 3}


@settings(max_examples=profiles.examples(30))
@given(st.data())
def test_drawn_options_respect_the_declared_limits(data: st.DataObject) -> None:
    hearth = build_hearth()
    schema = [
        {"name": "note", "type": 3, "required": True, "min_length": 1, "max_length": 300},
        {"name": "days", "type": 4, "required": False, "min_value": 1, "max_value": 90},
        {"name": "where", "type": 7, "required": True, "channel_types": [5]},
    ]
    options = data.draw(options_for(hearth, schema))
    assert 1 <= len(options["note"]) <= 300
    assert 1 <= options.get("days", 1) <= 90
    assert options["where"] == hearth.announcements
    line = data.draw(free_text(hearth, 0, 50, one_line=True))
    assert "\n" not in line
    assert len(line) <= 50


def bot_message(fuzzer: Fuzzer, content: str, mentions: dict | None) -> StoredMessage:
    """A message as if the bot had posted it in #general."""
    fake = fuzzer.fake
    return fake.store.create(
        fuzzer.hearth.general, fake.world.bot_user.id, content=content, allowed_mentions=mentions
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # not about storage: one backend
async def test_each_broken_property_fails_the_check(
    fuzzer: Fuzzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hearth, fake = fuzzer.hearth, fuzzer.fake
    assert await fuzzer.check() < 1.0  # a quiet bot passes

    # Text that pings: @everyone, and a member mentioned in typed text.
    bot_message(fuzzer, "hello @everyone", {"parse": ["everyone"]})
    with pytest.raises(AssertionError, match=r"pings \['everyone'\]"):
        await fuzzer.check()
    fuzzer.typed({"note": f"hi <@{hearth.bystander}>"})
    bot_message(fuzzer, f"from a member: hi <@{hearth.bystander}>", {"parse": ["users"]})
    with pytest.raises(AssertionError, match=f"pings \\['user:{hearth.bystander}'\\]"):
        await fuzzer.check()
    bot_message(fuzzer, f"from a member: hi <@{hearth.bystander}>", {"parse": []})
    await fuzzer.check()  # the same text, inert, is fine

    # A message without allowed_mentions (then mended, for the fixture's own check).
    careless = bot_message(fuzzer, "hi", None)
    with pytest.raises(AssertionError, match="without allowed_mentions"):
        await fuzzer.check()
    careless.allowed_mentions = {"parse": []}

    # An unhandled exception: the error reply, and the log line.
    bot_message(fuzzer, "It has been logged with error id `abc`", {"parse": []})
    with pytest.raises(AssertionError, match="unhandled error"):
        await fuzzer.check()
    logging.getLogger("kinfolk.errors").error("error abc in something")
    with pytest.raises(AssertionError, match=r"logged: kinfolk\.errors: error abc"):
        await fuzzer.check()

    # Something the stand-in rejected (an invalid body, a late first answer).
    fake.violation("POST /channels/1/messages", "content: 2001 characters")
    with pytest.raises(AssertionError, match="stand-in: POST /channels/1/messages"):
        await fuzzer.check()
    monkeypatch.setattr(harness, "ANSWER_TIMEOUT", 0.5)
    monkeypatch.setattr(fake, "response_deadline", 0.0)
    late = await fake.invoke(hearth.guild_id, hearth.general, hearth.alice, "about")
    with pytest.raises(AssertionError, match="did not respond"):
        await fuzzer.answered(late)  # the stand-in refused the late answer, as Discord does
    with pytest.raises(AssertionError, match=r"first response after"):
        await fuzzer.check()
    monkeypatch.setattr(fake, "response_deadline", 3.0)

    # An interaction the bot never answers.
    button = {"type": 2, "style": 1, "label": "?", "custom_id": "nobody:knows"}
    stray = bot_message(fuzzer, "a button", {"parse": []})
    stray.components = [{"type": 1, "components": [button]}]
    await fuzzer.check()
    with pytest.raises(AssertionError, match="did not respond"):
        await fuzzer.click(stray, "nobody:knows", hearth.alice)
    await fuzzer.check()
