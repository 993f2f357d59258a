"""Pacing requests below Discord's global limit of 50 a second.

discord.py waits when Discord says a limit was hit (a 429); a burst of proactive messages
should never get there. Every REST request the outbox makes waits its turn here, spaced
evenly, so any one-second window holds at most `per_second` of them.
"""

from __future__ import annotations

import asyncio
import time

from bot.jobs.defaults import OUTBOX_PER_SECOND

DISCORD_GLOBAL_LIMIT = 50
# Headroom under the global limit for requests made outside the outbox (command handlers).
DEFAULT_PER_SECOND = float(OUTBOX_PER_SECOND)


class Pacer:
    def __init__(self, per_second: float = DEFAULT_PER_SECOND) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self._next = 0.0
        self.waited = 0.0

    async def wait(self) -> None:
        """Return when the next request may go."""
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            self.waited += slot - now
            await asyncio.sleep(slot - now)
