"""Fixtures for the check-in end-to-end tests: the Grove server and the stand-in serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.checkins.world import Grove, build_grove
from tests.e2e.driver import serving
from tests.fakediscord import FakeDiscord


@pytest.fixture
def grove() -> Grove:
    return build_grove()


@pytest.fixture
async def fake(grove: Grove) -> AsyncIterator[FakeDiscord]:
    async with serving(grove.world) as server:
        yield server
