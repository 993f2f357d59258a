"""Fixtures for the 'I need to talk' end-to-end tests: the Harbour server, the stand-in
serving it, and the bot with escalation set up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.client import KinfolkBot
from tests.e2e.driver import serving
from tests.e2e.escalation.world import (
    Circle,
    build_circle,
    configure,
)
from tests.fakediscord import FakeDiscord


@pytest.fixture
def circle() -> Circle:
    return build_circle()


@pytest.fixture
async def fake(circle: Circle) -> AsyncIterator[FakeDiscord]:
    async with serving(circle.world) as server:
        yield server


@pytest.fixture
async def ready(fake: FakeDiscord, circle: Circle, kinfolk: KinfolkBot) -> KinfolkBot:
    await configure(fake, circle)
    return kinfolk
