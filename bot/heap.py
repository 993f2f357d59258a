"""The garbage collector and a long-running bot.

Python's full (generation 2) collection walks every container object the process holds. After
start-up that is hundreds of thousands of objects that live as long as the process: modules,
discord.py's caches of servers, channels and members, SQLAlchemy's mappers and compiled
statements, matplotlib (warmed for /mood). Walking them took 45-75 ms each time on the
benchmark machine, a few times a minute under load, and every interaction in flight waited for
it: the slowest 1% of answers (`benchmarks/interaction_latency.py`, issue 18).

`freeze_start_up_heap` collects once and then moves what survives into the permanent
generation (`gc.freeze`), which later collections skip. Objects made after it are collected as
usual; cycles among the frozen objects are never freed, which costs nothing for objects meant to
live as long as the process.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_start_up_heap() -> int:
    """Collect, then exempt every surviving object from later collections; returns how many
    objects are frozen in all."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up heap frozen: %d objects left out of later garbage collections", frozen)
    return frozen
