"""Fixtures for the privacy end-to-end tests: the Refuge server and the stand-in serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.driver import serving
from tests.e2e.privacy.world import Refuge, build_refuge
from tests.fakediscord import FakeDiscord


@pytest.fixture
def refuge() -> Refuge:
    return build_refuge()


@pytest.fixture
async def fake(refuge: Refuge) -> AsyncIterator[FakeDiscord]:
    async with serving(refuge.world) as server:
        yield server
