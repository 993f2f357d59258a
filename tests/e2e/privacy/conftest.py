"""Fixtures for the privacy end-to-end tests: the Refuge server and the stand-in serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import assert_every_message_sets_allowed_mentions
from tests.e2e.privacy.world import Refuge, build_refuge
from tests.fakediscord import FakeDiscord, point_discord_py_at


@pytest.fixture
def refuge() -> Refuge:
    return build_refuge()


@pytest.fixture
async def fake(refuge: Refuge) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(refuge.world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
            assert_every_message_sets_allowed_mentions(server)
            server.assert_no_violations()
        finally:
            undo()
