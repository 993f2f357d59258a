"""Fixtures for the support-circle end-to-end tests: the Commons server and the stand-in
serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.circles.world import Commons, build_commons
from tests.e2e.driver import serving
from tests.fakediscord import FakeDiscord


@pytest.fixture
def commons() -> Commons:
    return build_commons()


@pytest.fixture
async def fake(commons: Commons) -> AsyncIterator[FakeDiscord]:
    async with serving(commons.world) as server:
        yield server
