"""Fixtures for the reach-out end-to-end tests: the Hearth server and the stand-in serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.driver import serving
from tests.e2e.reachout.world import Hearth, build_hearth
from tests.fakediscord import FakeDiscord


@pytest.fixture
def hearth() -> Hearth:
    return build_hearth()


@pytest.fixture
async def fake(hearth: Hearth) -> AsyncIterator[FakeDiscord]:
    async with serving(hearth.world) as server:
        yield server
