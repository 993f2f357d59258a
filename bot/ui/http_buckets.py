"""discord.py's rate-limit buckets during a wave of DMs.

discord.py keeps a `Ratelimit` for every route key it has used, and a DM channel is a key of its
own. Each time a new key appears while it holds 256 or more, it walks all of them to drop the
ones idle for five minutes (`HTTPClient._try_clear_expired_ratelimits`). In a reach-out wave at
45 DMs a second none is that old, so every DM walked every bucket of the last five minutes: up
to 13,500, and 1.1 million `Ratelimit.is_inactive` calls for 1,500 DMs
(`benchmarks/reachout_burst.py`, issue 18).

`throttle_bucket_cleanup` lets that walk run at most once every `every` seconds. It drops the
same buckets, at most that much later; in between a wave holds at most `every` seconds' more
of them (about 1,400 small objects at 45 a second for 30 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import discord

CLEANUP_EVERY_SECONDS = 30.0
# discord.py's own threshold, below which it does not look.
BUCKETS_BEFORE_CLEANUP = 256


def throttle_bucket_cleanup(
    http: discord.http.HTTPClient,
    every: float = CLEANUP_EVERY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Make `http` look for idle buckets at most once every `every` seconds."""
    cleanup = http._try_clear_expired_ratelimits
    last = -float("inf")

    def throttled() -> None:
        nonlocal last
        if len(http._buckets) < BUCKETS_BEFORE_CLEANUP:
            return
        now = clock()
        if now - last < every:
            return
        last = now
        cleanup()

    http._try_clear_expired_ratelimits = throttled  # type: ignore[method-assign]
