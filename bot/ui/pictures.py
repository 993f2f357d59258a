"""Pictures (the /mood chart, the /circle map) drawn away from the event loop.

Drawing with matplotlib costs 0.1-0.3 s of CPU a picture, and about a second for the first
one in a process (imports, the font cache). In threads (`asyncio.to_thread`) that CPU still
competes for the GIL with the event loop: 16 pictures at once stalled it for 510 ms. So
pictures are drawn in a small pool of worker processes (PICTURE_WORKERS at a time, the rest
wait in its queue without costing the event loop anything), started and warmed up once per
process when the bot starts, so the first member to ask is not the slow one. A member asking
again while their last one is still being drawn is told it is on its way instead of
queueing another.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

PICTURE_WORKERS = 2

_pool: ProcessPoolExecutor | None = None


def _start_worker(parent: int) -> None:
    """In each worker, once. It lets go of the bot's stdout and stderr (a supervisor reading
    them would otherwise wait for the workers too), leaves as soon as the bot is gone (even
    killed with SIGKILL, when nobody can tell it to), and warms up."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    threading.Thread(target=_leave_with, args=(parent,), daemon=True).start()
    _warm_up()


def _leave_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _warm_up() -> None:
    """Import matplotlib and draw a tiny figure (building the font cache on a machine's very
    first run), so the first member's picture is not the slow one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1), dpi=10)
    FigureCanvasAgg(figure)
    figure.add_subplot().set_title("warm")
    figure.canvas.draw()


def _ready() -> bool:
    return True


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # "spawn": a fresh interpreter, never a fork of the bot with its sockets and threads.
        _pool = ProcessPoolExecutor(
            max_workers=PICTURE_WORKERS,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
    return _pool


def warm() -> None:
    """Start the workers and warm them up, without waiting (at start; once per process)."""
    pool = _executor()
    for _ in range(PICTURE_WORKERS):
        pool.submit(_ready)


async def draw(render: Callable[..., bytes], *args: Any) -> bytes:
    """`render(*args)` (a module-level function returning PNG bytes) in a worker."""
    global _pool
    loop = asyncio.get_running_loop()
    pool = _executor()
    try:
        return await loop.run_in_executor(pool, render, *args)
    except BrokenProcessPool:  # a worker died (e.g. killed for memory): start afresh, once
        if _pool is pool:  # the first of the waiting requests to notice replaces it
            log.warning("the picture workers stopped; starting them again")
            _pool = None
            pool.shutdown(wait=False, cancel_futures=True)
        return await loop.run_in_executor(_executor(), render, *args)


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


STILL_DRAWING = "I'm still drawing your last one; it will be here in a moment. 💛"
