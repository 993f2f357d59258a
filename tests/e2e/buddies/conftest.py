"""Fixtures for the buddy end-to-end tests: the Meadow server and the stand-in serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.buddies.world import Meadow, build_meadow
from tests.e2e.driver import serving
from tests.fakediscord import FakeDiscord


@pytest.fixture
def meadow() -> Meadow:
    return build_meadow()


@pytest.fixture
async def fake(meadow: Meadow) -> AsyncIterator[FakeDiscord]:
    async with serving(meadow.world) as server:
        yield server
