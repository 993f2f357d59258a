"""bot.heap: the start-up heap is frozen out of later garbage collections."""

from __future__ import annotations

import gc

from bot.heap import freeze_start_up_heap


def test_freezing_leaves_survivors_out_and_later_garbage_is_still_collected() -> None:
    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    kept = Node()
    try:
        frozen = freeze_start_up_heap()
        assert frozen == gc.get_freeze_count() > 0
        # A full collection no longer walks what was alive at the freeze...
        assert kept not in gc.get_objects(generation=2)
        # ...and a cycle made afterwards is still found and freed.
        first, second = Node(), Node()
        first.other, second.other = second, first
        del first, second
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
