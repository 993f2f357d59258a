"""Taking part in buddy pairing: join, leave, pause, status, block, and leaving a group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import locks
from bot.db.crypto import encrypt
from bot.db.engine import Database
from bot.db.models import BuddyGroup
from bot.db.repositories import buddies as repo
from bot.db.repositories import checkins as profiles
from bot.db.repositories import outbox
from bot.domain.checkins import InvalidInput
from bot.i18n import N_, _, ngettext, number, speaking
from bot.jobs.delivery import plain_payload
from bot.services import languages
from bot.services.buddies.texts import FREQUENCIES, GROUP_SMALLER, PAIRING_ENDED
from bot.services.checkins.reminders import check_timezone

MAX_PAUSE_DAYS = 90
KIND_THREAD = "buddy_thread"
NOT_SET_UP = N_(
    "The buddy programme isn't set up in this server yet. A moderator can start it with "
    "**/setup buddies**."
)
NOT_TAKING_PART = N_("You're not in the buddy programme. **/buddy join** to take part.")


@dataclass(frozen=True)
class BuddyStatus:
    taking_part: bool
    paused_until: datetime | None
    buddies: tuple[int, ...]
    thread_id: int | None
    round_ends_at: datetime | None
    rounds: int
    wants_rematch: bool


async def join(
    db: Database,
    clock: Clock,
    guild_id: int,
    user_id: int,
    *,
    roles: list[int],
    timezone: str | None = None,
    frequency: str | None = None,
) -> None:
    """Opt in (again), with optional preferences. Refused if the server requires a role."""
    if frequency is not None and frequency not in FREQUENCIES:
        raise InvalidInput(_("Please pick how often you'd like to talk from the list."))
    name = None if timezone is None else check_timezone(timezone)
    now = clock.now()
    async with db.session() as session:
        await hold_programme(session, guild_id)
        settings = await repo.get_settings(session, guild_id)
        if settings is None or settings.channel_id is None:
            raise InvalidInput(_(NOT_SET_UP))
        if settings.required_role_id and settings.required_role_id not in roles:
            raise InvalidInput(
                _(
                    "To join the buddy programme here you need the {role} role. A moderator can "
                    "tell you how to get it."
                ).format(role=f"<@&{settings.required_role_id}>")
            )
        values: dict[str, object] = {"status": repo.ACTIVE, "paused_until": None}
        if frequency is not None:
            values["frequency"] = frequency
        await repo.update_member(session, guild_id, user_id, now=now, **values)
        if name is not None:
            await profiles.update_profile(session, guild_id, user_id, now=now, timezone=name)


async def _participant(session: AsyncSession, guild_id: int, user_id: int) -> None:
    member = await repo.get_member(session, guild_id, user_id)
    if member is None or member.status != repo.ACTIVE:
        raise InvalidInput(_(NOT_TAKING_PART))


async def leave(db: Database, clock: Clock, guild_id: int, user_id: int) -> bool:
    """Opt out of future rounds and leave the current group. False if not taking part."""
    now = clock.now()
    async with db.session() as session:
        await hold_programme(session, guild_id)
        member = await repo.get_member(session, guild_id, user_id, for_update=True)
        if member is None or member.status != repo.ACTIVE:
            return False
        member.status, member.wants_rematch, member.updated_at = repo.LEFT, False, now
        await leave_group(session, guild_id, user_id, now=now)
    return True


async def pause(db: Database, clock: Clock, guild_id: int, user_id: int, days: int) -> datetime:
    if not 1 <= days <= MAX_PAUSE_DAYS:
        raise InvalidInput(
            ngettext(
                "You can pause for 1 to {count} day.",
                "You can pause for 1 to {count} days.",
                MAX_PAUSE_DAYS,
            ).format(count=number(MAX_PAUSE_DAYS))
        )
    now = clock.now()
    until = now + timedelta(days=days)
    async with db.session() as session:
        await hold_programme(session, guild_id)
        await _participant(session, guild_id, user_id)
        await repo.update_member(session, guild_id, user_id, now=now, paused_until=until)
    return until


async def status(db: Database, clock: Clock, guild_id: int, user_id: int) -> BuddyStatus:
    async with db.session() as session:
        member = await repo.get_member(session, guild_id, user_id)
        group = await repo.current_group(session, guild_id, user_id)
        buddies: tuple[int, ...] = ()
        ends_at = None
        if group is not None:
            members = await repo.group_members(session, group.id)
            buddies = tuple(m.user_id for m in members if m.user_id != user_id and not m.left_at)
            ends_at = await repo.round_ends_at(session, group.round_id)
        rounds = await repo.rounds_taken_part(session, guild_id, user_id)
    paused = member.paused_until if member is not None else None
    return BuddyStatus(
        taking_part=member is not None and member.status == repo.ACTIVE,
        paused_until=paused if paused is not None and paused > clock.now() else None,
        buddies=buddies,
        thread_id=group.thread_id if group is not None else None,
        round_ends_at=ends_at,
        rounds=rounds,
        wants_rematch=bool(member and member.wants_rematch),
    )


BLOCKED_PAIR, BLOCKED_IN_TRIO = "pair", "trio"


async def block(
    db: Database,
    clock: Clock,
    guild_id: int,
    user_id: int,
    other_id: int,
    *,
    other_is_bot: bool = False,
) -> str | None:
    """Never pair these two. Confidential: the other member is never told. If they are
    buddies now, the member leaves the group: a pair ends and its thread is closed
    (BLOCKED_PAIR), a trio goes on as a pair without them (BLOCKED_IN_TRIO); None if they
    were not buddies."""
    if other_id == user_id:
        raise InvalidInput(_("You can't block yourself."))
    if other_is_bot:
        raise InvalidInput(_("Bots are never anyone's buddy, so there's no need to block one."))
    now = clock.now()
    async with db.session() as session:
        await hold_programme(session, guild_id)
        await repo.add_block(session, guild_id, user_id, other_id, reason="block", now=now)
        group = await repo.current_group(session, guild_id, user_id)
        if group is None:
            return None
        members = [m for m in await repo.group_members(session, group.id) if m.left_at is None]
        if other_id not in {m.user_id for m in members}:
            return None
        await leave_group(session, guild_id, user_id, now=now)
        await repo.update_member(session, guild_id, user_id, now=now, wants_rematch=True)
        return BLOCKED_PAIR if len(members) <= 2 else BLOCKED_IN_TRIO


async def member_left_server(db: Database, clock: Clock, guild_id: int, user_id: int) -> None:
    """A member left the server: out of future rounds, and their buddies are told kindly."""
    now = clock.now()
    async with db.session() as session:
        await hold_programme(session, guild_id)
        member = await repo.get_member(session, guild_id, user_id, for_update=True)
        if member is None:
            return
        member.status, member.wants_rematch, member.updated_at = repo.LEFT, False, now
        await leave_group(session, guild_id, user_id, now=now)


def programme_lock(guild_id: int) -> str:
    return f"buddies:{guild_id}"


async def hold_programme(session: AsyncSession, guild_id: int) -> None:
    """Whatever changes who can be paired (joining, leaving, pausing, blocking, an erasure)
    and the writing of a round wait for each other on PostgreSQL (on SQLite every writing
    unit of work already does): a round is never written from what was true a moment ago."""
    await locks.hold(session, programme_lock(guild_id))


async def leave_group(session: AsyncSession, guild_id: int, user_id: int, *, now: datetime) -> None:
    """Take the member out of their running group. A pair ends, and the other is offered a
    rematch; a trio goes on as a pair. The others hear the same words whatever the reason."""
    group = await repo.current_group(session, guild_id, user_id)
    if group is None:
        return
    members = await repo.group_members(session, group.id)
    for row in members:
        if row.user_id == user_id:
            row.left_at = now
    staying = [m.user_id for m in members if m.user_id != user_id and m.left_at is None]
    if len(staying) < 2:
        group.ended_at = now
    # The shared space follows: a pair's thread is closed (archived and locked), a trio's
    # loses the one who left. Done after the intro, should it still be on its way (an
    # intro never opens an ended group's thread, nor invites someone who left). The row
    # does not name the member in the clear (their id, needed to take them out of the
    # thread, is sealed with ENCRYPTION_KEY), so it outlives their erasure, which is when
    # taking them out matters most.
    action: dict[str, Any]
    if len(staying) < 2:
        key, action = f"buddy:thread:{group.id}:close", {"close": True}
    else:
        gone = sum(1 for m in members if m.left_at is not None)
        key, action = (
            f"buddy:thread:{group.id}:left:{gone}",
            {"remove_sealed": encrypt(str(user_id))},
        )
    await outbox.enqueue(
        session,
        key=key,
        kind=KIND_THREAD,
        target_type="channel",
        target_id=group.thread_id or 0,  # looked up again when due
        payload={"group_id": group.id, **action},
        due_at=now,
        now=now,
        guild_id=guild_id,
    )
    for other in staying:
        if len(staying) < 2:
            await repo.update_member(session, guild_id, other, now=now, wants_rematch=True)
        await _tell(
            session, group, other, PAIRING_ENDED if len(staying) < 2 else GROUP_SMALLER, now
        )


async def _tell(
    session: AsyncSession, group: BuddyGroup, user_id: int, text: str, now: datetime
) -> None:
    """A DM to a buddy (`text`: a message marked with N_), written now in the buddy's own
    language (stored as plain text in the outbox), not in that of whoever caused it."""
    with speaking(await languages.of_member(session, group.guild_id, user_id)):
        content = _(text)
    await outbox.enqueue(
        session,
        key=f"buddy:changed:{group.id}:{user_id}:{int(now.timestamp())}",
        kind="plain",
        target_type="user",
        target_id=user_id,
        payload=plain_payload(content),
        due_at=now,
        now=now,
        guild_id=group.guild_id,
    )
