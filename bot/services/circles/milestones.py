"""Milestones a member chose to have celebrated in the server's milestone channel: a
check-in streak (7, 30, 100, 365 days), a buddy round completed, a year in the server.
Off unless the member opts in; each is queued once (unique keys) and checked again when due."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import circles as repo
from bot.db.repositories import outbox
from bot.domain.circles import streak_milestone, years_in_server
from bot.i18n import _, ngettext, number
from bot.jobs.delivery import Delivery, NoFollowUp, Prepared, QueuedMessage, Skip

KIND_MILESTONE = "circle_milestone"
ANNIVERSARY_AT = time(12, 0)  # UTC


def text(kind: str, user_id: int, value: int) -> str:
    """The post in the milestone channel, in the current language (the server's)."""
    member = f"<@{user_id}>"
    if kind == "streak":
        return ngettext(
            "🎉 {member} has checked in {count} day in a row. Lovely to see!",
            "🎉 {member} has checked in {count} days in a row. Lovely to see!",
            value,
        ).format(member=member, count=number(value))
    if kind == "round":
        return _(
            "🌱 {member} completed a buddy round. Thank you for being there for each other!"
        ).format(member=member)
    if value == 1:
        return _(
            "🎂 {member} has been part of this community for a year. We're glad you're here!"
        ).format(member=member)
    return ngettext(
        "🎂 {member} has been part of this community for {count} year. We're glad you're here!",
        "🎂 {member} has been part of this community for {count} years. We're glad you're here!",
        value,
    ).format(member=member, count=number(value))


async def _queue(
    session: AsyncSession,
    guild_id: int,
    user_id: int,
    kind: str,
    value: int,
    *,
    due: datetime,
    now: datetime,
) -> None:
    await outbox.enqueue(
        session,
        key=f"circle:milestone:{guild_id}:{user_id}:{kind}:{value}",
        kind=KIND_MILESTONE,
        target_type="channel",
        target_id=guild_id,  # the channel is looked up when due
        payload={"user_id": user_id, "kind": kind, "value": value},
        due_at=due,
        now=now,
        guild_id=guild_id,
        member_id=user_id,
    )


def _anniversary(joined: date, years: int) -> date:
    try:
        return joined.replace(year=joined.year + years)
    except ValueError:  # 29 February
        return date(joined.year + years, 3, 1)


def _next_anniversary(joined: date, today: date) -> tuple[int, date]:
    """The first anniversary on or after `today` (today's is still ahead: it is at noon)."""
    years = max(years_in_server(joined, today), 1)
    while _anniversary(joined, years) < today:
        years += 1
    return years, _anniversary(joined, years)


async def set_opt_in(
    db: Database,
    clock: Clock,
    guild_id: int,
    user_id: int,
    on: bool,
    *,
    joined_on: date | None = None,
) -> None:
    now = clock.now()
    async with db.session() as session:
        values: dict[str, object] = {"milestones": on}
        if joined_on is not None:
            values["joined_on"] = joined_on
        member = await repo.update_member(session, guild_id, user_id, now=now, **values)
        if on and member.joined_on is not None:
            years, day = _next_anniversary(member.joined_on, now.date())
            due = datetime.combine(day, ANNIVERSARY_AT, tzinfo=now.tzinfo)
            await _queue(session, guild_id, user_id, "year", years, due=due, now=now)


async def after_checkin(
    db: Database, clock: Clock, guild_id: int, user_id: int, before: int, after: int
) -> bool:
    """Celebrate a streak milestone just reached, if the member opted in."""
    milestone = streak_milestone(before, after)
    if milestone is None:
        return False
    now = clock.now()
    async with db.session() as session:
        member = await repo.get_member(session, guild_id, user_id, for_update=True)
        if member is None or not member.milestones or member.streak_celebrated >= milestone:
            return False
        member.streak_celebrated = milestone
        await _queue(session, guild_id, user_id, "streak", milestone, due=now, now=now)
        return True


async def rounds_completed(
    session: AsyncSession,
    guild_id: int,
    round_number: int,
    members: Iterable[int],
    *,
    now: datetime,
) -> None:
    """In the unit of work that ends a round: celebrate those who opted in."""
    for user_id in members:
        member = await repo.get_member(session, guild_id, user_id)
        if member is not None and member.milestones:
            await _queue(session, guild_id, user_id, "round", round_number, due=now, now=now)


class MilestoneHandler(NoFollowUp):
    max_attempts: int | None = 5

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        guild_id = message.guild_id or 0
        user_id = int(message.payload["user_id"])
        kind, value = message.payload["kind"], int(message.payload["value"])
        now = self.clock.now()
        async with self.db.session() as session:
            member = await repo.get_member(session, guild_id, user_id)
            settings = await repo.get_settings(session, guild_id)
            if member is None or not member.milestones:
                return Skip("the member no longer wants milestones celebrated")
            if settings is None or settings.milestone_channel_id is None:
                return Skip("the server has no milestone channel")
            if kind == "year" and member.joined_on is not None:
                # Queue next year's now, so the chain continues while they stay opted in.
                years, day = _next_anniversary(member.joined_on, now.date() + timedelta(days=1))
                due = datetime.combine(day, ANNIVERSARY_AT, tzinfo=now.tzinfo)
                await _queue(session, guild_id, user_id, "year", years, due=due, now=now)
        return Delivery(
            target_type="channel",
            target_id=settings.milestone_channel_id,
            content=text(kind, user_id, value),
        )
