"""A model of thinking-of-you notes across reports, erasures, closes and retention, checked
against the real services and the real outbox dispatcher (no discord) on two servers, on
SQLite and PostgreSQL.

Hypothesis has three people send notes to each other in two servers (named or anonymous),
delivers them, reports them (as their recipient, or forged by someone else), erases a person
in one server (/privacy delete), closes reports (from the right server and a stale button of
the other), runs the daily retention job and lets time pass. After every step:

- the notes in the database are exactly the model's, with the status and words it expects;
  a note about a person erased since it was written carries their pseudonym, never their id;
- a reported note keeps its words after its sender's erasure until a moderator closes the
  report or retention ends it;
- a note is asked for: accepted exactly when the limits (three a day, one a week to one
  person, per server) allow it, counting what the sender sent before erasing their data;
- a note is delivered once, only while queued, never after its sender or recipient erased
  their data, and a report that reaches the moderators quotes the words the note then had.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import ThinkingNote
from bot.domain.checkins import InvalidInput
from bot.domain.circles import NOTE_RECIPIENT_GAP, NOTES_PER_DAY
from bot.jobs.delivery import Delivery, Outcome, Sent
from bot.jobs.outbox import OutboxDispatcher
from bot.services.circles import handlers as circle_handlers
from bot.services.circles import notes
from bot.services.privacy import member_data, retention
from tests import profiles
from tests.conftest import BACKENDS
from tests.helpers import FrozenClock
from tests.services.test_escalation_model import Databases, run_model

BASE = 820_000_000_000_000_000
G1, G2 = BASE + 1, BASE + 2
PEOPLE = (BASE + 101, BASE + 102, BASE + 103)
MODERATOR = BASE + 201
RETENTION = timedelta(days=retention.DEFAULT_RETENTION_DAYS)
EXAMPLES = {"sqlite": 40, "postgresql": 20}


@dataclass
class Note:
    guild: int
    sender: int
    recipient: int
    at: datetime
    text: str | None
    status: str = "queued"
    sender_erased: bool = False
    recipient_erased: bool = False
    delivered: int = 0

    @property
    def tombstoned(self) -> bool:
        return self.sender_erased or self.recipient_erased


class Inbox:
    """Discord as the outbox sees it: every delivery, accepted."""

    def __init__(self) -> None:
        self.sent: list[Delivery] = []

    async def deliver(self, delivery: Delivery) -> Outcome:
        self.sent.append(delivery)
        return Sent(delivery.target_id, BASE + 10_000 + len(self.sent))


class NotesModel(RuleBasedStateMachine):
    databases: Databases  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FrozenClock()
        self.inbox = Inbox()
        self.notes: dict[int, Note] = {}
        # Every note ever accepted: (server, sender, recipient, when). The limits count them
        # whatever has happened to the rows since.
        self.accepted: list[tuple[int, int, int, datetime]] = []
        self.db: Database | None = None
        self.dispatcher: OutboxDispatcher | None = None
        self.count = 0

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        if self.db is not None:
            self.run(self.db.close())
        self.loop.close()

    @property
    def database(self) -> Database:
        assert self.db is not None
        return self.db

    @initialize()
    def set_up(self) -> None:
        url = self.run(self.databases.fresh())
        self.db = Database(url, connect_args=self.databases.connect_args())
        self.dispatcher = OutboxDispatcher(
            self.db,
            self.clock,
            self.inbox,
            circle_handlers.handlers(self.db, self.clock),
            owner=f"notes-model-{uuid.uuid4().hex[:6]}",
        )

    # ----- what the limits allow --------------------------------------------------------
    def allowed(self, guild: int, sender: int, recipient: int) -> bool:
        now = self.clock.now()
        mine = [(r, at) for g, s, r, at in self.accepted if g == guild and s == sender]
        if any(r == recipient and now - at < NOTE_RECIPIENT_GAP for r, at in mine):
            return False
        return sum(1 for _r, at in mine if now - at < timedelta(days=1)) < NOTES_PER_DAY

    def pick(self, data: st.DataObject, likely: Any) -> int:
        """A note's id, usually one for which `likely(note)` holds (if any does)."""
        preferred = sorted(i for i, note in self.notes.items() if likely(note))
        if preferred and data.draw(st.integers(0, 3)) > 0:
            return data.draw(st.sampled_from(preferred))
        return data.draw(st.sampled_from(sorted(self.notes)))

    # ----- rules ------------------------------------------------------------------------
    @rule(
        asked=st.lists(
            st.tuples(
                st.sampled_from((G1, G2)),
                st.permutations(PEOPLE).map(lambda p: p[:2]),
                st.booleans(),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def send(self, asked: list[tuple[int, list[int], bool]]) -> None:
        """Notes asked for one after another (the limits may refuse some)."""
        for guild, (sender, recipient), with_words in asked:
            self.send_one(guild, sender, recipient, with_words)

    def send_one(self, guild: int, sender: int, recipient: int, with_words: bool) -> None:
        self.count += 1
        text = f"note {self.count}" if with_words else None
        expected = self.allowed(guild, sender, recipient)
        try:
            queued = self.run(
                notes.send(self.database, self.clock, guild, sender, recipient, text=text)
            )
        except InvalidInput as refused:
            reason: str | None = str(refused)
        else:
            reason = None
        if reason is not None:
            assert not expected, f"refused although the limits allow it: {reason}"
            return
        assert expected, "accepted although the limits refuse it"
        self.accepted.append((guild, sender, recipient, self.clock.now()))
        self.notes[queued.note_id] = Note(guild, sender, recipient, self.clock.now(), text)

    @rule()
    def deliver(self) -> None:
        assert self.dispatcher is not None
        before = len(self.inbox.sent)
        for _ in range(20):
            if self.run(self.dispatcher.run_once()) == 0:
                break
        for delivery in self.inbox.sent[before:]:
            note_id = int(delivery.view_args["note_id"])
            note = self.notes[note_id]
            if delivery.target_type == "user":  # the note itself, to its recipient
                assert note.status == "queued", f"a {note.status} note was delivered"
                assert not note.tombstoned, "a note was delivered after an erasure"
                assert delivery.target_id == note.recipient
                note.status, note.delivered = "sent", note.delivered + 1
            else:  # a report, to the server's owner (no alert channel is set)
                assert delivery.target_type == "guild_owner"
                assert delivery.target_id == note.guild
                content = delivery.content or ""
                if note.text is not None:
                    assert note.text in content, "the report lost the note's words"
                else:
                    assert "(no text, or cleared)" in content

    @rule(data=st.data(), forged=st.integers(0, 3).map(lambda n: n == 0))
    def report(self, data: st.DataObject, forged: bool) -> None:
        if not self.notes:
            return
        note_id = self.pick(data, lambda note: note.status != "reported")
        note = self.notes[note_id]
        reporter = data.draw(st.sampled_from(PEOPLE)) if forged else note.recipient
        accepted = self.run(notes.report(self.database, self.clock, note_id, reporter))
        expected = (
            reporter == note.recipient and not note.recipient_erased and note.status != "reported"
        )
        assert accepted == expected
        if accepted:
            note.status = "reported"

    @precondition(lambda self: len(self.notes) >= 2)
    @rule(data=st.data(), of_a_note=st.booleans(), sender=st.booleans())
    def erase(self, data: st.DataObject, of_a_note: bool, sender: bool) -> None:
        """A person runs /privacy delete in one server: often the sender (or recipient) of
        a note, most often of one that was reported."""
        if of_a_note and self.notes:
            note = self.notes[self.pick(data, lambda note: note.status == "reported")]
            guild, person = note.guild, note.sender if sender else note.recipient
        else:
            guild = data.draw(st.sampled_from((G1, G2)))
            person = data.draw(st.sampled_from(PEOPLE))
        self.run(member_data.delete_member(self.database, self.clock, guild, person))
        now = self.clock.now()
        for note_id, note in list(self.notes.items()):
            involved = note.guild == guild and person in (
                note.sender if not note.sender_erased else None,
                note.recipient if not note.recipient_erased else None,
            )
            if not involved:
                continue
            reported = note.status == "reported"
            if not reported and note.at < now - NOTE_RECIPIENT_GAP:
                del self.notes[note_id]
                continue
            note.sender_erased |= note.sender == person
            note.recipient_erased |= note.recipient == person
            if not reported:
                note.text = None
                if note.status == "queued":
                    note.status = "withdrawn"

    @rule(data=st.data(), from_other_server=st.booleans())
    def close(self, data: st.DataObject, from_other_server: bool) -> None:
        if not self.notes:
            return
        note_id = self.pick(data, lambda note: note.status == "reported")
        note = self.notes[note_id]
        guild = (G2 if note.guild == G1 else G1) if from_other_server else note.guild
        closed = self.run(
            notes.close_report(
                self.database, self.clock, note_id, guild_id=guild, moderator_id=MODERATOR
            )
        )
        expected = not from_other_server and note.status == "reported"
        assert (closed is not None) == expected
        if not expected:
            return
        note.status = "closed"
        if note.tombstoned:
            if note.at < self.clock.now() - NOTE_RECIPIENT_GAP:
                del self.notes[note_id]
            else:
                note.text = None

    @rule()
    def daily_retention(self) -> None:
        now = self.clock.now()

        async def purge() -> None:
            async with self.database.session() as session:
                await retention.purge(session, now)

        self.run(purge())
        for note_id, note in list(self.notes.items()):
            old = note.at < now - RETENTION
            if note.tombstoned and (
                old or (note.status != "reported" and note.at < now - NOTE_RECIPIENT_GAP)
            ):
                del self.notes[note_id]
            elif old:
                note.text = None

    @rule(hours=st.sampled_from((1, 23, 25, 6 * 24, 8 * 24, 91 * 24)))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours=hours)

    @precondition(lambda self: bool(self.notes))
    @rule()
    def a_second_process_delivers(self) -> None:
        """Another process's dispatcher on the same database: still once per note."""
        other = OutboxDispatcher(
            self.database,
            self.clock,
            self.inbox,
            circle_handlers.handlers(self.database, self.clock),
            owner=f"notes-model-{uuid.uuid4().hex[:6]}",
        )
        assert self.dispatcher is not None
        self.dispatcher, other = other, self.dispatcher
        self.deliver()
        self.dispatcher = other

    # ----- invariants -------------------------------------------------------------------
    @invariant()
    def the_database_holds_the_models_notes(self) -> None:
        if self.db is None:
            return

        async def rows() -> list[ThinkingNote]:
            async with self.database.read() as session:
                return list((await session.scalars(select(ThinkingNote))).all())

        stored = {row.id: row for row in self.run(rows())}
        assert set(stored) == set(self.notes), "notes kept or lost against the rules"
        for note_id, note in self.notes.items():
            row = stored[note_id]
            assert row.status == note.status, (note_id, row.status, note)
            assert row.note == note.text, (note_id, row.note, note)
            assert row.guild_id == note.guild
            if note.sender_erased:
                assert row.sender_id < 0, "an erased sender's id is still on a note"
            else:
                assert row.sender_id == note.sender
            if note.recipient_erased:
                assert row.recipient_id < 0, "an erased recipient's id is still on a note"
            else:
                assert row.recipient_id == note.recipient
            assert note.delivered <= 1


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", BACKENDS)
def test_notes_lifecycle_matches_the_model(backend: str, tmp_path: Path) -> None:
    run_model(
        NotesModel, backend, tmp_path, examples=profiles.examples(EXAMPLES[backend]), steps=40
    )
