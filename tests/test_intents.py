"""The gateway intents Kinfolk asks for: no privileged ones unless MEMBERS_INTENT is on."""

from __future__ import annotations

from bot.client import intents


def test_members_intent_only_when_switched_on() -> None:
    assert intents(True).members is True
    assert intents(members=False).members is False


def test_no_privileged_intents_by_default() -> None:
    chosen = intents()
    assert (chosen.members, chosen.presences, chosen.message_content) == (False, False, False)
    assert chosen.guilds is True  # the default, non-privileged intents are kept
