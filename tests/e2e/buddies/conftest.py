"""Fixtures for the buddy end-to-end tests: the Meadow server and the stand-in serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.buddies.world import Meadow, build_meadow
from tests.e2e.conftest import assert_every_message_sets_allowed_mentions
from tests.fakediscord import FakeDiscord, point_discord_py_at


@pytest.fixture
def meadow() -> Meadow:
    return build_meadow()


@pytest.fixture
async def fake(meadow: Meadow) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(meadow.world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
            assert_every_message_sets_allowed_mentions(server)
            server.assert_no_violations()
        finally:
            undo()
