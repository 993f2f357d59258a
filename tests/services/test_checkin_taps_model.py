"""A model of mood taps on the daily burst's hot path (`records.record`, three statements for
a first tap), checked against the real service on SQLite and PostgreSQL.

Hypothesis has two members of two servers tap mood messages (their own, again, with another
mood, someone else's), several taps at once and from a second process, agree to check-ins,
erase their data (/privacy delete) and let days pass. After every step the check-ins in the
database are exactly the model's: one per tapped message, with the mood of its last tap,
never one without consent or after an erasure; every answer's streak and "again" are what
the model expects; a tap on another member's message changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Checkin
from bot.domain.checkins import InvalidInput, Mood
from bot.services.checkins import records
from bot.services.privacy import member_data
from tests import profiles
from tests.conftest import BACKENDS
from tests.helpers import FrozenClock
from tests.services.test_escalation_model import Databases, run_model

BASE = 830_000_000_000_000_000
GUILDS = (BASE + 1, BASE + 2)
MEMBERS = (BASE + 101, BASE + 102)
EXAMPLES = {"sqlite": 30, "postgresql": 15}


@dataclass
class Saved:
    guild: int
    member: int
    mood: int
    day: int  # days since the model began


class TapsModel(RuleBasedStateMachine):
    databases: Databases  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FrozenClock()
        self.day = 0
        self.consented: set[tuple[int, int]] = set()
        self.saved: dict[int, Saved] = {}  # message id -> its one check-in
        self.next_message = BASE + 5_000
        self.db: Database | None = None
        self.other: Database | None = None  # a second process on the same database

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        for database in (self.db, self.other):
            if database is not None:
                self.run(database.close())
        self.loop.close()

    @initialize()
    def set_up(self) -> None:
        url = self.run(self.databases.fresh())
        self.db = Database(url, connect_args=self.databases.connect_args())
        self.other = Database(url, connect_args=self.databases.connect_args())

    def process(self, second: bool) -> Database:
        database = self.other if second else self.db
        assert database is not None
        return database

    # ----- what the model expects ------------------------------------------------------------
    def streak(self, guild: int, member: int) -> int:
        days = {s.day for s in self.saved.values() if (s.guild, s.member) == (guild, member)}
        count, day = 0, self.day
        while day in days:
            count, day = count + 1, day - 1
        return count

    # ----- rules ------------------------------------------------------------------------
    @rule(guild=st.sampled_from(GUILDS), member=st.sampled_from(MEMBERS))
    def consent(self, guild: int, member: int) -> None:
        self.run(records.give_consent(self.process(False), self.clock, guild, member))
        self.consented.add((guild, member))

    @rule(
        guild=st.sampled_from(GUILDS),
        member=st.sampled_from(MEMBERS),
        moods=st.lists(st.sampled_from(list(Mood)), min_size=1, max_size=4),
        second=st.lists(st.booleans(), min_size=4, max_size=4),
    )
    def tap_a_new_message(
        self, guild: int, member: int, moods: list[Mood], second: list[bool]
    ) -> None:
        """The member taps a fresh mood message: once, or several times at once (a double
        click, a retried interaction in another process), maybe with different moods."""
        self.next_message += 1
        message = self.next_message

        async def taps() -> list[Any]:
            return await asyncio.gather(
                *(
                    records.record(
                        self.process(second[i]), self.clock, guild, member, mood, message_id=message
                    )
                    for i, mood in enumerate(moods)
                ),
                return_exceptions=True,
            )

        results = self.run(taps())
        if (guild, member) not in self.consented:
            assert all(isinstance(r, records.ConsentNeeded) for r in results), results
            return
        assert not any(isinstance(r, BaseException) for r in results), results
        assert [r.again for r in results].count(None) == 1  # one tap saved it
        assert len({r.checkin_id for r in results}) == 1
        first = next(r for r in results if r.again is None)
        streak_before = self.streak(guild, member)
        today_already = any(
            (s.guild, s.member, s.day) == (guild, member, self.day) for s in self.saved.values()
        )
        assert first.news.days == (streak_before if today_already else streak_before + 1)
        assert first.news.again_today == today_already
        # Which tap ran last is up to the event loop; the row holds one of the moods tapped,
        # and the model learns which from the database.
        mood = self.run(self.mood_of(message))
        assert mood in {int(m) for m in moods}
        self.saved[message] = Saved(guild, member, mood, self.day)

    @rule(data=st.data(), mood=st.sampled_from(list(Mood)), second=st.booleans())
    def tap_again(self, data: st.DataObject, mood: Mood, second: bool) -> None:
        """A later tap on a message already saved: the owner's changes its mood; anyone
        else's (a forged or stale id) changes nothing."""
        if not self.saved:
            return
        message = data.draw(st.sampled_from(sorted(self.saved)))
        saved = self.saved[message]
        member = data.draw(st.sampled_from(MEMBERS))
        guild = data.draw(st.sampled_from(GUILDS))
        call = records.record(
            self.process(second), self.clock, guild, member, mood, message_id=message
        )
        try:
            result = self.run(call)
        except records.ConsentNeeded:
            assert (guild, member) not in self.consented
            return
        except InvalidInput:
            assert (guild, member) != (saved.guild, saved.member)
            return
        assert (guild, member) == (saved.guild, saved.member)
        assert result.again == ("same" if saved.mood == int(mood) else "changed")
        saved.mood = int(mood)

    @rule(guild=st.sampled_from(GUILDS), member=st.sampled_from(MEMBERS))
    def erase(self, guild: int, member: int) -> None:
        self.run(member_data.delete_member(self.process(False), self.clock, guild, member))
        self.consented.discard((guild, member))
        for message in [m for m, s in self.saved.items() if (s.guild, s.member) == (guild, member)]:
            del self.saved[message]

    @rule(days=st.integers(min_value=1, max_value=2))
    def days_pass(self, days: int) -> None:
        self.clock.advance(days=days)
        self.day += days

    # ----- what must hold ---------------------------------------------------------------
    async def mood_of(self, message: int) -> int:
        async with self.process(False).read() as session:
            mood = await session.scalar(select(Checkin.mood).where(Checkin.message_id == message))
        assert mood is not None
        return mood

    @invariant()
    def the_checkins_are_the_models(self) -> None:
        if self.db is None:
            return

        async def rows() -> dict[int | None, tuple[int, int, int]]:
            async with self.process(False).read() as session:
                found = (await session.scalars(select(Checkin))).all()
            assert len({row.message_id for row in found}) == len(found), "a message saved twice"
            return {row.message_id: (row.guild_id, row.user_id, row.mood) for row in found}

        expected = {m: (s.guild, s.member, s.mood) for m, s in self.saved.items()}
        assert self.run(rows()) == expected


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", BACKENDS)
def test_mood_taps_match_the_model(backend: str, tmp_path: Path) -> None:
    run_model(TapsModel, backend, tmp_path, examples=profiles.examples(EXAMPLES[backend]), steps=30)
