"""Discord's 3 seconds, kept whatever the database is doing.

An interaction must be acknowledged within 3 s of Discord sending it, or the member sees
"This interaction failed" and nothing Kinfolk says afterwards reaches them. Most answers come
in milliseconds; but a slow or hung database (a PostgreSQL that accepts and never answers, a
SQLite file another process holds) would keep a command past that, and its kind answer ("I
couldn't reach my database…") would be refused.

`guard(interaction)`, called as a slash command or a component press begins, watches it: if
nothing has answered `DEFER_AFTER` seconds after Discord sent it, it acknowledges it (a private
"thinking…" for a command; for a button or select, a silent "I'll update this message").
The handler does not need to know: its `interaction.response` calls then fill in that
acknowledgement (`send_message` becomes the follow-up that replaces "thinking…", or a new
private message under a button's; `edit_message` edits the button's message), within the
interaction token's 15 minutes, including the error answer when the database gave up.
Nothing is promised early: the handler still answers only once its work is done.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import discord

log = logging.getLogger(__name__)

# Acknowledge after this long without an answer: after /talk's own 2.2 s budget for its
# save (it answers with the crisis lines itself), with room before Discord's 3 s for the
# acknowledgement's own trip.
DEFER_AFTER = 2.4
# How much of the time since Discord created the interaction (its id's timestamp) is taken off
# that: a busy bot may receive it late. At most this much, so that a wrong clock on the host
# cannot make every answer a deferred one.
MAX_LAG = 1.0

# What `send_message` takes that a follow-up does not, and what `edit_message` takes that an
# edit of the original response does not: dropped when an answer is redirected.
_NOT_FOR_FOLLOWUP = ("delete_after",)
_NOT_FOR_EDIT = ("delete_after", "suppress_embeds")


class GuardedResponse(discord.InteractionResponse):
    """`interaction.response`, which the watchdog may have acknowledged first. One lock
    orders the watchdog's acknowledgement and the handler's answer, so Discord never gets
    two (error 40060)."""

    def __init__(self, parent: discord.Interaction) -> None:
        super().__init__(parent)
        self.lock = asyncio.Lock()
        self.acknowledged_late = False  # the watchdog answered for the handler

    async def send_message(self, content: Any = None, **kwargs: Any) -> Any:
        async with self.lock:
            if not self.acknowledged_late:
                return await super().send_message(content, **kwargs)
        for name in _NOT_FOR_FOLLOWUP:
            kwargs.pop(name, None)
        return await self._parent.followup.send(content, **kwargs)

    async def edit_message(self, **kwargs: Any) -> Any:
        async with self.lock:
            if not self.acknowledged_late:
                return await super().edit_message(**kwargs)
        for name in _NOT_FOR_EDIT:
            kwargs.pop(name, None)
        return await self._parent.edit_original_response(**kwargs)

    async def defer(self, **kwargs: Any) -> Any:
        async with self.lock:
            if self.acknowledged_late:
                return None  # already acknowledged: the handler's own defer is a no-op
            return await super().defer(**kwargs)

    async def send_modal(self, modal: discord.ui.Modal, /) -> Any:
        async with self.lock:
            return await super().send_modal(modal)

    async def acknowledge_late(self) -> None:
        """The watchdog's part: acknowledge, unless the handler has answered meanwhile."""
        async with self.lock:
            if self.is_done():
                return
            if self._parent.type is discord.InteractionType.application_command:
                await super().defer(ephemeral=True, thinking=True)
            else:
                await super().defer()
            self.acknowledged_late = True


def defer_after(created_at: datetime, now: datetime) -> float:
    """Seconds from now until the watchdog acknowledges an interaction Discord created at
    `created_at`: DEFER_AFTER less the lag in reaching us, counting at most MAX_LAG of it."""
    lag = (now - created_at).total_seconds()
    return DEFER_AFTER - min(max(lag, 0.0), MAX_LAG)


def guard(interaction: discord.Interaction, *, after: float | None = None) -> None:
    """Watch a slash command or component interaction that has not been answered yet."""
    if interaction.type not in (
        discord.InteractionType.application_command,
        discord.InteractionType.component,
    ):
        return
    current = interaction.response
    if isinstance(current, GuardedResponse) or current.is_done():
        return
    response = GuardedResponse(interaction)
    interaction._cs_response = response  # type: ignore[attr-defined]  # discord.py's cache slot
    if after is None:
        after = defer_after(interaction.created_at, discord.utils.utcnow())
    task = asyncio.get_running_loop().create_task(
        _watch(response, after),
        name=f"kinfolk-deadline-{interaction.id}",
    )
    _watching.add(task)
    task.add_done_callback(_watching.discard)


_watching: set[asyncio.Task[None]] = set()  # the event loop keeps only weak references


async def _watch(response: GuardedResponse, after: float) -> None:
    await asyncio.sleep(after)
    if response.is_done():
        return
    try:
        await response.acknowledge_late()
    except discord.HTTPException:
        log.warning("could not acknowledge a slow interaction in time", exc_info=True)
    else:
        if response.acknowledged_late:
            log.info("interaction still at work after %.1f s: acknowledged it", after)
