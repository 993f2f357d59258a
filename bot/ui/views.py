"""The one way Kinfolk builds a message's components.

Every button and select Kinfolk sends is a `DynamicItem`: its custom id says what it acts
on, and each feature registers its item classes when it loads (`add_dynamic_items`), so a
press is matched by pattern, after a restart too. A view is therefore only the components
to send; discord.py need not keep it. Left to itself, discord.py stores every view it
sends, and gives each view on a private reply a 15-minute timer task: one live task and
view per /checkin, mood tap or /talk answer, tens of thousands in a daily prompt's
quarter hour, for nothing (issue 18). A stopped view is sent all the same and not kept.
"""

from __future__ import annotations

from typing import Any

import discord


def view_of(*items: discord.ui.Item[Any]) -> discord.ui.View:
    """A view of these items (each a registered `DynamicItem`), for sending only."""
    view = discord.ui.View(timeout=None)
    for item in items:
        if not isinstance(item, discord.ui.DynamicItem):
            raise TypeError(f"{type(item).__name__} is not a DynamicItem: a press would be lost")
        view.add_item(item)
    view.stop()  # nothing to listen for: the items' classes are matched by pattern
    return view
