"""Fixtures for the check-in end-to-end tests: the Grove server and the stand-in serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.checkins.world import Grove, build_grove
from tests.e2e.conftest import assert_every_message_sets_allowed_mentions
from tests.fakediscord import FakeDiscord, point_discord_py_at


@pytest.fixture
def grove() -> Grove:
    return build_grove()


@pytest.fixture
async def fake(grove: Grove) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(grove.world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
            assert_every_message_sets_allowed_mentions(server)
            server.assert_no_violations()
        finally:
            undo()
