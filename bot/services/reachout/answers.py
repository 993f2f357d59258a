"""A member's one-tap answer to a reach-out DM, recorded and respected."""

from __future__ import annotations

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import reachout as repo
from bot.domain.reachout import PAUSE
from bot.services.reachout.texts import ANSWERS


async def answer(db: Database, clock: Clock, guild_id: int, user_id: int, choice: str) -> None:
    """Record the answer. "pause" holds reach-outs for a month; "stop" ends them for good
    (until /reachout on). "busy", "checkin" and "talk" are recorded; the next reach-out of
    this quiet spell, if any, keeps its place in the backoff."""
    if choice not in ANSWERS:
        raise ValueError(f"unknown answer {choice!r}")
    now = clock.now()
    values: dict[str, object] = {"last_answer": choice, "last_answer_at": now}
    if choice == "pause":
        values["paused_until"] = now + PAUSE
    elif choice == "stop":
        values["dm_consent"] = "no"
        values["consent_changed_at"] = now
    async with db.session() as session:
        await repo.update_member(session, guild_id, user_id, now=now, **values)


async def member_left(db: Database, clock: Clock, guild_id: int, user_id: int) -> None:
    async with db.session() as session:
        await repo.mark_left(session, guild_id, user_id, now=clock.now())
