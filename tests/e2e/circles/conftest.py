"""Fixtures for the support-circle end-to-end tests: the Commons server and the stand-in
serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.circles.world import Commons, build_commons
from tests.e2e.conftest import assert_every_message_sets_allowed_mentions
from tests.fakediscord import FakeDiscord, point_discord_py_at


@pytest.fixture
def commons() -> Commons:
    return build_commons()


@pytest.fixture
async def fake(commons: Commons) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(commons.world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
            assert_every_message_sets_allowed_mentions(server)
            server.assert_no_violations()
        finally:
            undo()
