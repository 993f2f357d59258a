"""Offers of support: which kinds a member is glad to give (and topics for advice). They
feed buddy pairing (an offer meeting the other's gap is preferred) and, if the member
chooses, their buddy's intro."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import circles as repo
from bot.domain.circles import Kind, check_topics


@dataclass(frozen=True)
class Offer:
    kinds: tuple[Kind, ...]
    topics: tuple[str, ...]
    share_with_buddy: bool


NO_OFFER = Offer((), (), True)


async def set_offer(
    db: Database,
    clock: Clock,
    guild_id: int,
    user_id: int,
    *,
    kinds: Iterable[Kind] | None = None,
    topics: str | None = None,
    share_with_buddy: bool | None = None,
) -> Offer:
    """Change what is given (the rest stays). Bad topics raise `InvalidInput` first."""
    values: dict[str, object] = {}
    if kinds is not None:
        values["kinds"] = [k.value for k in Kind if k in set(kinds)]
    if topics is not None:
        values["topics"] = json.dumps(check_topics(topics)) if topics.strip() else None
    if share_with_buddy is not None:
        values["share_with_buddy"] = share_with_buddy
    async with db.session() as session:
        row = await repo.update_offer(session, guild_id, user_id, now=clock.now(), **values)
        return Offer(
            tuple(Kind(k) for k in row.kinds or ()),
            tuple(repo.topics_of(row)),
            row.share_with_buddy,
        )


async def withdraw(db: Database, guild_id: int, user_id: int) -> bool:
    async with db.session() as session:
        return await repo.delete_offer(session, guild_id, user_id)


async def get(db: Database, guild_id: int, user_id: int) -> Offer:
    async with db.session() as session:
        row = await repo.get_offer(session, guild_id, user_id)
    if row is None:
        return NO_OFFER
    return Offer(
        tuple(Kind(k) for k in row.kinds or ()), tuple(repo.topics_of(row)), row.share_with_buddy
    )


async def for_pairing(
    session: AsyncSession, guild_id: int, users: Iterable[int]
) -> dict[int, tuple[frozenset[str], frozenset[str]]]:
    """Each member's (offers, gaps) for pairing. Gaps are known only for members who built
    a circle: someone who never did is not assumed to lack everything."""
    wanted = list(users)
    offered = await repo.offers(session, guild_id, wanted)
    present = await repo.circle_kinds(session, guild_id, wanted)
    every = frozenset(k.value for k in Kind)
    return {
        user: (
            frozenset(offered[user].kinds or ()) if user in offered else frozenset(),
            every - frozenset(present[user]) if user in present else frozenset(),
        )
        for user in wanted
    }


async def shared_offers(
    session: AsyncSession, guild_id: int, users: Iterable[int]
) -> dict[int, Offer]:
    """The offers members chose to share with their buddy."""
    rows = await repo.offers(session, guild_id, users)
    return {
        user: Offer(tuple(Kind(k) for k in row.kinds or ()), tuple(repo.topics_of(row)), True)
        for user, row in rows.items()
        if row.share_with_buddy and (row.kinds or row.topics)
    }
