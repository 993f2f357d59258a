"""Fixtures for the language end-to-end tests: the Plaza server, whose members use Discord in
Spanish, German, French and Brazilian Portuguese, and the stand-in serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.driver import serving
from tests.e2e.languages.world import Plaza, build_plaza
from tests.fakediscord import FakeDiscord


@pytest.fixture
def plaza() -> Plaza:
    return build_plaza()


@pytest.fixture
async def fake(plaza: Plaza) -> AsyncIterator[FakeDiscord]:
    async with serving(plaza.world) as server:
        yield server
