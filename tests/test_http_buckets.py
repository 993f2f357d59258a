"""bot.ui.http_buckets: discord.py's walk over its rate-limit buckets, at most once a while."""

from __future__ import annotations

import asyncio

import discord

from bot.ui.http_buckets import BUCKETS_BEFORE_CLEANUP, throttle_bucket_cleanup


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_wave_of_new_buckets_walks_them_once_a_while_and_idle_ones_still_go() -> None:
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    walks = 0
    original = http._try_clear_expired_ratelimits

    def counted() -> None:
        nonlocal walks
        walks += 1
        original()

    http._try_clear_expired_ratelimits = counted  # type: ignore[method-assign]
    clock = Clock()
    throttle_bucket_cleanup(http, every=30.0, clock=clock)

    # A DM channel is a bucket of its own: 2,000 DMs, 2,000 new buckets, in a few seconds.
    for channel in range(2000):
        http.get_ratelimit(f"POST /channels/{channel}/messages")
    assert walks == 1  # (unthrottled: once for each bucket past the 256th)
    assert len(http._buckets) == 2000  # none idle yet: none dropped

    # Later, with every one of them idle for five minutes, the next new bucket clears them.
    for bucket in http._buckets.values():
        bucket._last_request -= 301
    clock.now += 31
    http.get_ratelimit("POST /channels/after/messages")
    assert walks == 2
    assert list(http._buckets) == ["POST /channels/after/messages"]


async def test_below_discord_pys_threshold_nothing_is_walked_or_delayed() -> None:
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    clock = Clock()
    throttle_bucket_cleanup(http, clock=clock)
    for channel in range(BUCKETS_BEFORE_CLEANUP - 1):
        http.get_ratelimit(f"k{channel}")
    # The first walk past the threshold happens at once, not `every` seconds later.
    for bucket in http._buckets.values():
        bucket._last_request -= 301
    http.get_ratelimit("last")  # the 256th: the idle 255 go at once
    assert list(http._buckets) == ["last"]
