"""The outbox kinds of reach-out: the member's DM, the buddy's nudge, the hourly sweep and
the weekly digest. Each looks again at the current state when it falls due: a member who
became active, paused, said stop or left since the sweep gets nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import MemberActivity
from bot.db.repositories import buddies as buddy_repo
from bot.db.repositories import checkins as checkin_repo
from bot.db.repositories import reachout as repo
from bot.domain.reachout import in_quiet_hours, next_allowed
from bot.domain.timezones import is_valid_timezone, zone
from bot.i18n import _
from bot.jobs.delivery import (
    PROBLEM_DMS_CLOSED,
    Delivery,
    KindHandler,
    NoFollowUp,
    NotYet,
    Prepared,
    QueuedMessage,
    Sent,
    Skip,
    Undeliverable,
)
from bot.services.checkins.records import timezone_of
from bot.services.reachout.digest import DigestHandler
from bot.services.reachout.settings import KIND_DIGEST, KIND_SWEEP
from bot.services.reachout.sweep import (
    KIND_BUDDY,
    KIND_DM,
    KIND_SWEEP_ALL,
    SweepAllHandler,
    SweepHandler,
    quiet_hours,
)
from bot.services.reachout.texts import BUDDY_NUDGE, DEFAULT_MESSAGE

ANSWERS_VIEW = "reachout_answers"


class _Quiet(Protocol):
    """What `_still_quiet` reads of a member (a row, or the DM's frozen `DmMember`)."""

    @property
    def left_at(self) -> datetime | None: ...
    @property
    def dm_consent(self) -> str | None: ...
    @property
    def last_seen_at(self) -> datetime: ...
    @property
    def paused_until(self) -> datetime | None: ...


def _still_quiet(member: _Quiet | None, message: QueuedMessage, now: datetime) -> str | None:
    """Why this reach-out is no longer wanted, or None."""
    if member is None:
        return "the member's data was deleted"
    if member.left_at is not None:
        return "the member left the server"
    if member.dm_consent == "no":
        return "the member asked for no more of these"
    if member.last_seen_at.isoformat() != message.payload["cycle"]:
        return "the member has been active since"
    if member.paused_until is not None and now < member.paused_until:
        return "the member paused these"
    return None


class _Base:
    max_attempts: int | None = 8

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def _wait_for_day(self, guild_id: int, member: MemberActivity) -> NotYet | None:
        """NotYet if it is the member's night (their quiet hours) now."""
        async with self.db.lookup() as session:
            profile = await checkin_repo.get_profile(session, guild_id, member.user_id)
            tz_name = await timezone_of(session, guild_id, profile)
        return self._night(member, tz_name)

    def _night(self, member: MemberActivity | repo.DmMember, tz_name: str) -> NotYet | None:
        tz = zone(tz_name if is_valid_timezone(tz_name) else "UTC")
        now = self.clock.now()
        quiet = quiet_hours(member)
        if not in_quiet_hours(now, tz, quiet):
            return None
        return NotYet("the member's quiet hours", next_allowed(now, tz, quiet) - now)


class DmHandler(_Base):
    """The DM to a quiet member who opted in, with one-tap answers."""

    async def prepare(self, message: QueuedMessage) -> Prepared:
        guild_id = message.guild_id or 0
        now = self.clock.now()
        # One read of one statement: this runs for every DM of a reach-out wave (issue 18).
        async with self.db.lookup() as session:
            context = await repo.dm_context(session, guild_id, message.target_id)
        member = context.member
        if not context.enabled:
            return Skip("reach-out was switched off in this server")
        if (reason := _still_quiet(member, message, now)) is not None:
            return Skip(reason)
        assert member is not None
        if member.dm_consent != "yes" or member.dms_closed_at is not None:
            return Skip("the member has not opted in to DMs")
        zone_name = context.member_timezone or context.server_timezone or "UTC"
        if (wait := self._night(member, zone_name)) is not None:
            return wait
        return Delivery(
            target_type="user",
            target_id=member.user_id,
            # In the member's language (`prepare`); a server's own wording stays as written.
            content=context.message or _(DEFAULT_MESSAGE),
            view=ANSWERS_VIEW,
            view_args={"guild_id": guild_id},
            server_name_of=guild_id,
            dm_channel_id=member.dm_channel_id,
        )

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        async with self.db.session() as session:
            await self.record_sent(session, message, sent)

    async def record_sent(self, session: AsyncSession, message: QueuedMessage, sent: Sent) -> None:
        """Remember when the member was reached and their DM channel (`RecordsSent`: in the
        dispatcher's unit of work that marks the DM sent)."""
        await repo.mark_reached(
            session,
            message.guild_id or 0,
            message.target_id,
            at=self.clock.now(),
            dm_channel_id=sent.channel_id,
        )

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        if problem.code == PROBLEM_DMS_CLOSED:
            async with self.db.session() as session:
                member = await repo.get_member(
                    session, message.guild_id or 0, message.target_id, for_update=True
                )
                if member is not None:
                    member.dms_closed_at = self.clock.now()
        return None  # recorded on the row; never retried


class BuddyNudgeHandler(NoFollowUp, _Base):
    """ "You might check on X", to a quiet member's active buddy."""

    async def prepare(self, message: QueuedMessage) -> Prepared:
        guild_id = message.guild_id or 0
        member_id = int(message.payload["member"])
        now = self.clock.now()
        async with self.db.session() as session:
            settings = await repo.get_settings(session, guild_id)
            member = await repo.get_member(session, guild_id, member_id)
            buddy = await repo.get_member(session, guild_id, message.target_id)
            partners = await buddy_repo.running_partners(session, guild_id)
        if settings is None or not settings.enabled:
            return Skip("reach-out was switched off in this server")
        if (reason := _still_quiet(member, message, now)) is not None:
            return Skip(reason)
        if message.target_id not in partners.get(member_id, ()):
            return Skip("they are no longer buddies")
        if buddy is None or buddy.left_at is not None:
            return Skip("the buddy left")
        if (wait := await self._wait_for_day(guild_id, buddy)) is not None:
            return wait
        return Delivery(
            target_type="user",
            target_id=message.target_id,
            # In the buddy's language (`prepare`); the sender fills in {server}.
            content=_(BUDDY_NUDGE).replace("{member}", str(member_id)),
            server_name_of=guild_id,
            dm_channel_id=buddy.dm_channel_id,
        )

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        async with self.db.session() as session:
            member = await repo.get_member(
                session, message.guild_id or 0, int(message.payload["member"]), for_update=True
            )
            if member is not None:
                member.last_nudged_at = self.clock.now()


def handlers(db: Database, clock: Clock) -> dict[str, KindHandler]:
    return {
        KIND_DM: DmHandler(db, clock),
        KIND_BUDDY: BuddyNudgeHandler(db, clock),
        KIND_SWEEP: SweepHandler(db, clock),
        KIND_SWEEP_ALL: SweepAllHandler(db, clock),
        KIND_DIGEST: DigestHandler(db, clock),
    }
