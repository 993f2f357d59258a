"""Pictures (the /mood chart, the /circle map) drawn away from the event loop.

Drawing with matplotlib costs 0.1-0.3 s of CPU a picture, and about a second for the first
one in a process (imports, the font cache), so pictures are drawn in the bot's worker
processes (`bot.workers`), warmed up when the bot starts. A member asking again while their
last one is still being drawn is told it is on its way instead of queueing another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bot import workers
from bot.i18n import N_


def warm() -> None:
    """Start the workers and warm them up, without waiting (at start; once per process)."""
    workers.warm()


async def draw(render: Callable[..., bytes], *args: Any) -> bytes:
    """`render(*args)` (a module-level function returning PNG bytes) in a worker."""
    return await workers.run(render, *args)


class OnePerMember:
    """A member's picture of one kind is drawn one at a time: asking again while the last
    is still being drawn (a double tap, an impatient repeat) is answered kindly at once
    instead of queueing another. Once it has arrived they may ask again."""

    def __init__(self) -> None:
        self._drawing: set[tuple[int, int, str]] = set()

    @contextmanager
    def turn(self, guild_id: int, user_id: int, what: str) -> Iterator[bool]:
        """True inside if it is this request's turn; False if one is being drawn."""
        key = (guild_id, user_id, what)
        if key in self._drawing:
            yield False
            return
        self._drawing.add(key)
        try:
            yield True
        finally:
            self._drawing.discard(key)


# Shown as `_(STILL_DRAWING)`.
STILL_DRAWING = N_("I'm still drawing your last one; it will be here in a moment. 💛")
