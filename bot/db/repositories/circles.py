"""Support circles: people in members' circles, offers, notes, choices and settings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import CircleMember, CirclePerson, CircleSettings, SupportOffer, ThinkingNote
from bot.db.typed import rowcount
from bot.db.upsert import update_guild_row, update_member_row


async def people(session: AsyncSession, guild_id: int, user_id: int) -> list[CirclePerson]:
    rows = await session.scalars(
        select(CirclePerson)
        .where(CirclePerson.guild_id == guild_id, CirclePerson.user_id == user_id)
        .order_by(CirclePerson.id)
    )
    return list(rows.all())


async def add_person(session: AsyncSession, person: CirclePerson) -> CirclePerson:
    session.add(person)
    await session.flush()
    return person


async def get_person(
    session: AsyncSession, guild_id: int, user_id: int, person_id: int
) -> CirclePerson | None:
    person = await session.get(CirclePerson, person_id)
    if person is None or person.guild_id != guild_id or person.user_id != user_id:
        return None
    return person


async def remove_person(session: AsyncSession, guild_id: int, user_id: int, person_id: int) -> bool:
    result = await session.execute(
        delete(CirclePerson).where(
            CirclePerson.id == person_id,
            CirclePerson.guild_id == guild_id,
            CirclePerson.user_id == user_id,
        )
    )
    return bool(rowcount(result))


async def circle_kinds(
    session: AsyncSession, guild_id: int, users: Iterable[int]
) -> dict[int, set[str]]:
    """For members who have a circle at all: the kinds of support someone gives them."""
    wanted = list(set(users))
    found: dict[int, set[str]] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.execute(
            select(CirclePerson.user_id, CirclePerson.kind).where(
                CirclePerson.guild_id == guild_id,
                CirclePerson.user_id.in_(wanted[start : start + 500]),
            )
        )
        for user, kind in rows.all():
            found.setdefault(user, set()).add(kind)
    return found


async def get_offer(session: AsyncSession, guild_id: int, user_id: int) -> SupportOffer | None:
    return await session.get(SupportOffer, (guild_id, user_id))


async def update_offer(
    session: AsyncSession, guild_id: int, user_id: int, *, now: datetime, **values: Any
) -> SupportOffer:
    return await update_member_row(session, SupportOffer, guild_id, user_id, now=now, **values)


async def delete_offer(session: AsyncSession, guild_id: int, user_id: int) -> bool:
    result = await session.execute(
        delete(SupportOffer).where(
            SupportOffer.guild_id == guild_id, SupportOffer.user_id == user_id
        )
    )
    return bool(rowcount(result))


async def offers(
    session: AsyncSession, guild_id: int, users: Iterable[int]
) -> dict[int, SupportOffer]:
    wanted = list(set(users))
    found: dict[int, SupportOffer] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.scalars(
            select(SupportOffer).where(
                SupportOffer.guild_id == guild_id,
                SupportOffer.user_id.in_(wanted[start : start + 500]),
            )
        )
        found.update({row.user_id: row for row in rows.all()})
    return found


def topics_of(offer: SupportOffer | None) -> list[str]:
    if offer is None or not offer.topics:
        return []
    return list(json.loads(offer.topics))


async def get_member(
    session: AsyncSession, guild_id: int, user_id: int, *, for_update: bool = False
) -> CircleMember | None:
    return await session.get(
        CircleMember, (guild_id, user_id), with_for_update=for_update, populate_existing=for_update
    )


async def update_member(
    session: AsyncSession, guild_id: int, user_id: int, *, now: datetime, **values: Any
) -> CircleMember:
    return await update_member_row(session, CircleMember, guild_id, user_id, now=now, **values)


async def add_note(session: AsyncSession, note: ThinkingNote) -> ThinkingNote:
    session.add(note)
    await session.flush()
    return note


async def get_note(
    session: AsyncSession, note_id: int, *, for_update: bool = False
) -> ThinkingNote | None:
    return await session.get(
        ThinkingNote, note_id, with_for_update=for_update, populate_existing=for_update
    )


async def notes_sent_since(
    session: AsyncSession, guild_id: int, sender_ids: Sequence[int], since: datetime
) -> list[datetime]:
    """When notes were sent since `since` by any of `sender_ids` (one member, under their
    id and their pseudonym)."""
    rows = await session.scalars(
        select(ThinkingNote.created_at).where(
            ThinkingNote.guild_id == guild_id,
            ThinkingNote.sender_id.in_(sender_ids),
            ThinkingNote.created_at >= since,
        )
    )
    return list(rows.all())


async def last_note_to(
    session: AsyncSession, guild_id: int, sender_ids: Sequence[int], recipient_ids: Sequence[int]
) -> datetime | None:
    return await session.scalar(
        select(func.max(ThinkingNote.created_at)).where(
            ThinkingNote.guild_id == guild_id,
            ThinkingNote.sender_id.in_(sender_ids),
            ThinkingNote.recipient_id.in_(recipient_ids),
        )
    )


async def notes_of(session: AsyncSession, guild_id: int, user_id: int) -> Sequence[ThinkingNote]:
    """Every note the member sent or received in this server, locked (erasure)."""
    rows = await session.scalars(
        select(ThinkingNote)
        .where(
            ThinkingNote.guild_id == guild_id,
            or_(ThinkingNote.sender_id == user_id, ThinkingNote.recipient_id == user_id),
        )
        .with_for_update()
    )
    return rows.all()


async def get_settings(session: AsyncSession, guild_id: int) -> CircleSettings | None:
    return await session.get(CircleSettings, guild_id)


async def update_settings(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> CircleSettings:
    return await update_guild_row(session, CircleSettings, guild_id, now=now, **values)
