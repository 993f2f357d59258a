"""Fixtures for the 'I need to talk' end-to-end tests: the Harbour server, the stand-in
serving it, and the bot with escalation set up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.client import KinfolkBot
from tests.e2e.conftest import assert_every_message_sets_allowed_mentions
from tests.e2e.escalation.world import (
    Circle,
    build_circle,
    configure,
)
from tests.fakediscord import FakeDiscord, point_discord_py_at


@pytest.fixture
def circle() -> Circle:
    return build_circle()


@pytest.fixture
async def fake(circle: Circle) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(circle.world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
            assert_every_message_sets_allowed_mentions(server)
            everyone = [
                m.id for m in circle.world.message_index.values() if "everyone" in server.pinged(m)
            ]
            assert everyone == [], "a message pinged @everyone"
        finally:
            undo()


@pytest.fixture
async def ready(fake: FakeDiscord, circle: Circle, kinfolk: KinfolkBot) -> KinfolkBot:
    await configure(fake, circle)
    return kinfolk
