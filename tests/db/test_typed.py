"""The typed helpers over SQLAlchemy's loosely typed results, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import DeclarativeBase

from bot.db.engine import Database
from bot.db.models import MemberProfile
from bot.db.repositories import checkins as repo
from bot.db.typed import dialect_of, rowcount, table_of
from tests.helpers import FrozenClock


async def test_rowcount_counts_the_rows_a_statement_changed(
    db: Database, clock: FrozenClock, backend: str
) -> None:
    async with db.session() as session:
        for user in (1, 2, 3):
            await repo.update_profile(session, 7, user, now=clock.now(), timezone="UTC")
    async with db.session() as session:
        assert dialect_of(session) == backend
        changed = await session.execute(
            update(MemberProfile).where(MemberProfile.user_id < 3).values(timezone="Europe/Oslo")
        )
        assert rowcount(changed) == 2
        none = await session.execute(
            update(MemberProfile).where(MemberProfile.user_id > 9).values(timezone="UTC")
        )
        assert rowcount(none) == 0


def test_table_of_a_mapped_class_and_of_something_else() -> None:
    assert table_of(MemberProfile).name == "member_profiles"

    class Unmapped(DeclarativeBase):
        pass

    with pytest.raises((TypeError, AttributeError)):
        table_of(Unmapped)
