"""Fixtures for the resilience tests: the Shelter server, the stand-in serving it, and a
way to sit through discord.py's own 5xx back-off without waiting for real."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator
from typing import Any

import discord.http
import discord.webhook.async_
import pytest

from tests.e2e.driver import serving
from tests.e2e.resilience.world import Shelter, build_shelter
from tests.fakediscord import FakeDiscord


@pytest.fixture
def shelter() -> Shelter:
    return build_shelter()


@pytest.fixture
async def fake(shelter: Shelter) -> AsyncIterator[FakeDiscord]:
    async with serving(shelter.world) as server:
        yield server


class _QuickSleep(types.ModuleType):
    """`asyncio` as seen by discord.py's HTTP clients, with sleeps 50 times shorter.

    On a 500/502 discord.py itself retries up to five times, sleeping 1, 3, 5, 7 and 9
    seconds in between (25 s). The tests only care that it retries, not for how long."""

    def __init__(self) -> None:
        super().__init__("asyncio")

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, result: Any = None) -> Any:
        return await asyncio.sleep(delay / 50, result)


@pytest.fixture
def quick_discord_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    quick = _QuickSleep()
    monkeypatch.setattr(discord.http, "asyncio", quick)
    monkeypatch.setattr(discord.webhook.async_, "asyncio", quick)
