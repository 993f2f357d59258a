"""A model of the life of "I need to talk" requests, checked against the real services and the
real outbox dispatcher (no discord) on two servers, on SQLite and PostgreSQL.

Hypothesis drives members and moderators of both servers through every action a request has
(open at each urgency, add words, raise urgency, cancel, claim, resolve, hand off, read the
words; by moderators and non-moderators of either server, with stale buttons of earlier
requests), erasures (/privacy delete and the leaver erasure), restarts, a crash right after
Discord accepted a message, Discord failures and time passing. After every step the real
system must agree with the model, and these must hold:

- every open request has exactly one alert, in its own server's alert channel, showing its
  current urgency and status; none is dropped (it is sent, or still queued) or doubled;
- no action changes a request of another server, and no reader of another server sees its
  words;
- ladder steps are sent at most once, only while their generation is waiting, and every
  step that fell due while its request was waiting is sent (or still queued for a retry);
- the team is pinged at once for a first request and for a more urgent one, and a member
  who opens and closes requests over and over pings the team at most once in CRISIS_QUIET;
- an erased member leaves no id and no pending outbox row behind, and their old alerts no
  longer name them;
- a member who asks again after closing gets a new request at once, with a new id.

HYPOTHESIS_PROFILE sets how many examples (tests/profiles.py): soak runs ten times CI's, random.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select

from bot.db import migrate
from bot.db.engine import Database
from bot.db.models import Base, OutboxMessage, SupportRequest
from bot.domain.escalation import (
    CRISIS_QUIET,
    FOLD_WINDOW,
    Actor,
    Status,
    TransitionRefused,
    Urgency,
)
from bot.jobs.delivery import (
    PROBLEM_NOT_POSTED,
    Delivery,
    Outcome,
    Retry,
    Sent,
    Undeliverable,
)
from bot.jobs.outbox import OutboxDispatcher
from bot.services.escalation import config as escalation_config
from bot.services.escalation import ladder, requests
from bot.services.escalation.render import STYLE
from bot.services.escalation.requests import AlreadyOpen, Opened, Raised
from bot.services.privacy import member_data, retention
from tests import profiles
from tests.conftest import BACKENDS, POSTGRES_URL, _asyncpg_dsn
from tests.helpers import FrozenClock

EXAMPLES = {"sqlite": 60, "postgresql": 30}  # under the ci profile (tests/profiles.py)
STEPS = 50

# Snowflake-sized ids, so a search for one id's digits never matches another's.
BASE = 800_000_000_000_000_000
A, B = BASE + 1, BASE + 2
ALERTS = {A: BASE + 11, B: BASE + 12}
SUPPORT = {A: BASE + 21, B: BASE + 22}
MODS = {A: BASE + 31, B: BASE + 32}
SECOND = {A: BASE + 41, B: BASE + 42}
# People: ordinary members of A, of B, of both; moderators of A, of B (and a member of A).
A1, A2, A3 = BASE + 101, BASE + 102, BASE + 103
B1, B2 = BASE + 201, BASE + 202
BOTH = BASE + 301
MA1, MA2 = BASE + 401, BASE + 402
MB1 = BASE + 501
MEMBERS = {A: (A1, A2, A3, BOTH, MB1), B: (B1, B2, BOTH)}
MODERATORS = {A: (MA1, MA2), B: (MB1,)}
EVERYONE = (A1, A2, A3, B1, B2, BOTH, MA1, MA2, MB1)
IN_ONE_SERVER_ONLY = (A1, A2, A3, B1, B2, MA1, MA2)

LADDER = {  # minutes after the start of a generation: (reping, escalate and the member's DM)
    Urgency.CHAT: (5, 15),
    Urgency.STRUGGLING: (5, 15),
    Urgency.CRISIS: (2, 5),
}
# Discord drops a second message with the same nonce for a few minutes (enforce_nonce).
NONCES = timedelta(minutes=5)


class Crash(BaseException):
    """The process dies right after Discord accepted a message (before it is marked)."""


@dataclass
class Message:
    id: int
    channel_id: int
    content: str
    embeds: list[dict[str, Any]]
    view_args: dict[str, Any]
    ping_roles: tuple[int, ...]
    nonce: str | None


class ModelDiscord:
    """Discord, as far as the outbox can see it: messages per channel, edits, nonces (a
    second send with the same nonce returns the first message, as `enforce_nonce` does)."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.messages: dict[int, Message] = {}
        self.by_nonce: dict[str, int] = {}
        self.nonce_at: dict[str, datetime] = {}
        self.crashed: set[int] = set()  # messages Discord took just before the process died
        self.next_id = BASE + 10_000
        self.fail_next = 0
        self.crash_next = False
        self.troubles = 0  # failures and crashes so far
        self.new_sends: list[tuple[Delivery, int]] = []  # (delivery, message id), since taken

    async def deliver(self, delivery: Delivery) -> Outcome:
        if self.fail_next:
            self.fail_next -= 1
            self.troubles += 1
            return Retry("Discord answered 503")
        channel = delivery.target_id if delivery.target_type == "channel" else -delivery.target_id
        if delivery.edit_message_id is not None:
            message = self.messages.get(delivery.edit_message_id)
            if message is None or message.channel_id != channel:
                return Undeliverable("unknown_target", "Unknown Message")
            message.content = delivery.content or ""
            message.embeds = list(delivery.embeds)
            message.view_args = dict(delivery.view_args) if delivery.view else {}
            return Sent(channel, message.id)
        if delivery.find_existing is not None:
            for earlier in sorted(self.messages.values(), key=lambda m: -m.id)[:50]:
                footer = earlier.embeds[0].get("footer", {}) if earlier.embeds else {}
                if earlier.channel_id == channel and footer.get("text") == delivery.find_existing:
                    return Sent(channel, earlier.id)
            if not delivery.post_if_missing:
                return Undeliverable(PROBLEM_NOT_POSTED, "no earlier copy")
        seen = self.by_nonce.get(delivery.nonce or "")
        if seen is not None and self.clock.now() - self.nonce_at[delivery.nonce or ""] < NONCES:
            return Sent(channel, seen)
        self.next_id += 1
        message = Message(
            self.next_id,
            channel,
            delivery.content or "",
            list(delivery.embeds),
            dict(delivery.view_args) if delivery.view else {},
            delivery.ping_roles,
            delivery.nonce,
        )
        self.messages[message.id] = message
        if delivery.nonce is not None:
            self.by_nonce[delivery.nonce] = message.id
            self.nonce_at[delivery.nonce] = self.clock.now()
        self.new_sends.append((delivery, message.id))
        if self.crash_next:
            self.crash_next = False
            self.troubles += 1
            self.crashed.add(message.id)
            raise Crash
        return Sent(channel, message.id)

    def showing(self, request_id: int) -> list[Message]:
        return [m for m in self.messages.values() if m.view_args.get("request_id") == request_id]


@dataclass
class Req:
    """What the model expects of one request."""

    id: int
    guild: int
    member: int
    urgency: Urgency
    status: Status
    words: list[str]  # what the member wrote, piece by piece
    generation: int = 0
    started: datetime = field(default_factory=lambda: datetime.min)  # this generation's start
    acted_on: bool = False  # a moderator claimed, resolved or handed it off
    claimed_by: int | None = None
    erased: bool = False  # its member erased their data (kept under a pseudonym)
    deleted: bool = False  # erased with its member
    sent_steps: set[str] = field(default_factory=set)
    troubles_at_open: int = 0  # Discord failures and crashes before it was opened

    @property
    def active(self) -> bool:
        return self.status in (Status.OPEN, Status.CLAIMED) and not self.deleted

    def due_steps(self, now: datetime) -> set[str]:
        if self.status is not Status.OPEN or self.deleted:
            return set()
        first, second = LADDER[self.urgency]
        due = set()
        if now >= self.started + timedelta(minutes=first):
            due.add(f"g{self.generation}:reping")
        if now >= self.started + timedelta(minutes=second):
            due |= {f"g{self.generation}:escalate", f"g{self.generation}:member"}
        return due


def actor(guild: int, user: int) -> Actor:
    """The person pressing a button in `guild`, with their roles there."""
    roles = frozenset({MODS[guild]} if user in MODERATORS[guild] else set())
    return Actor(user, roles)


class Databases:
    """One migrated database per backend and test, copied (SQLite) or emptied (PostgreSQL)
    for each example: migrating anew for each would take most of the time."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self.folder = folder
        self.template = folder / "template.db"
        self.schema = f"kinfolk_model_{uuid.uuid4().hex[:10]}"

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.folder / name}"
        assert POSTGRES_URL
        return POSTGRES_URL

    def connect_args(self) -> dict[str, Any]:
        if self.backend == "sqlite":
            return {}
        return {"server_settings": {"search_path": self.schema}}

    async def prepare(self) -> None:
        if self.backend == "postgresql":
            admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL or ""))
            try:
                await admin.execute(f'CREATE SCHEMA "{self.schema}"')
            finally:
                await admin.close()
            database = Database(self.url(""), connect_args=self.connect_args())
        else:
            database = Database(f"sqlite+aiosqlite:///{self.template}")
        await migrate.upgrade(database)
        await database.close()

    async def fresh(self) -> str:
        """The URL of an empty, migrated database for one example."""
        if self.backend == "sqlite":
            name = f"example-{uuid.uuid4().hex}.db"
            shutil.copyfile(self.template, self.folder / name)
            return self.url(name)
        database = Database(self.url(""), connect_args=self.connect_args())
        async with database.session() as session:
            for table in reversed(Base.metadata.sorted_tables):
                if table.name != "alembic_version":
                    await session.execute(delete(table))
        await database.close()
        return self.url("")

    async def drop(self) -> None:
        if self.backend == "postgresql":
            admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL or ""))
            try:
                await admin.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
            finally:
                await admin.close()


def run_model(
    machine: type[RuleBasedStateMachine],
    backend: str,
    folder: Path,
    *,
    examples: int,
    steps: int,
) -> None:
    """Run a stateful model whose examples each take a fresh database of `backend` (its
    `databases` attribute), with the settings every model here shares."""
    databases = Databases(backend, folder)
    asyncio.run(databases.prepare())
    machine.databases = databases  # type: ignore[attr-defined]
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=not profiles.RANDOM,
                database=None,
                report_multiple_bugs=False,
            ),
        )
    finally:
        asyncio.run(databases.drop())


class EscalationModel(RuleBasedStateMachine):
    databases: Databases  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FrozenClock()
        self.discord = ModelDiscord(self.clock)
        self.requests: dict[int, Req] = {}
        self.ever_seen_ids: set[int] = set()
        self.stale_ids = [BASE + 999_999]  # an id that never existed
        self.erased_pairs: set[tuple[int, int]] = set()
        # (guild, member) -> times the team was pinged at once about them, with the urgency
        # (guild, member) -> when the team was pinged at once about them, at what urgency,
        # and whether that message reached Discord just as the process died
        self.immediate_pings: dict[tuple[int, int], list[tuple[datetime, Urgency, bool]]] = {}
        self.last_closed: dict[tuple[int, int], datetime] = {}
        self.db: Database | None = None
        self.dispatcher: OutboxDispatcher | None = None
        self.url = ""

    # ----- plumbing -------------------------------------------------------------------
    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        if self.db is not None:
            self.run(self.db.close())
        self.loop.close()

    def start_process(self) -> None:
        """A (new) bot process: its own Database and dispatcher on the same database."""
        assert self.url
        if self.db is not None:
            self.run(self.db.close())
        self.db = Database(self.url, connect_args=self.databases.connect_args())
        handlers = {
            **ladder.handlers(self.db, self.clock),
            **retention.handlers(self.db, self.clock),
        }
        self.dispatcher = OutboxDispatcher(
            self.db, self.clock, self.discord, handlers, owner=f"model-{uuid.uuid4().hex[:6]}"
        )

    def drain(self) -> None:
        """Run the outbox until nothing due is left (a crash restarts the process)."""
        for _ in range(60):
            assert self.dispatcher is not None
            try:
                handled = self.run(self.dispatcher.run_once())
            except Crash:
                self.start_process()
                continue
            if handled == 0:
                break
        self.account_for_sends()

    @property
    def database(self) -> Database:
        assert self.db is not None
        return self.db

    @initialize()
    def set_up(self) -> None:
        self.url = self.run(self.databases.fresh())
        self.start_process()
        for guild in (A, B):
            self.run(
                escalation_config.configure(
                    self.database,
                    self.clock,
                    guild,
                    MODERATORS[guild][0],
                    alert_channel_id=ALERTS[guild],
                    moderator_role_id=MODS[guild],
                    support_channel_id=SUPPORT[guild],
                    second_tier_role_id=SECOND[guild],
                )
            )
            self.run(
                retention.configure(
                    self.database, self.clock, guild, actor_id=0, leave_grace_days=0
                )
            )

    # ----- members --------------------------------------------------------------------
    def active_of(self, guild: int, member: int) -> Req | None:
        return next(
            (
                r
                for r in self.requests.values()
                if (r.guild, r.member) == (guild, member) and r.active
            ),
            None,
        )

    @rule(
        guild=st.sampled_from((A, B)),
        data=st.data(),
        urgency=st.sampled_from(list(Urgency)),
        words=st.sampled_from((None, "I can't sleep again", "It's about home")),
    )
    def open_request(
        self, guild: int, data: st.DataObject, urgency: Urgency, words: str | None
    ) -> None:
        member = data.draw(st.sampled_from(MEMBERS[guild]), label="member")
        self.ask(guild, member, urgency, words)

    @precondition(lambda self: bool(self.last_closed))
    @rule(data=st.data(), urgency=st.sampled_from(list(Urgency)))
    def ask_again_after_closing(self, data: st.DataObject, urgency: Urgency) -> None:
        """A member who said "I'm OK now" changes their mind."""
        guild, member = data.draw(st.sampled_from(sorted(self.last_closed)), label="who")
        self.ask(guild, member, urgency, None)

    @precondition(lambda self: self.has_own_active())
    @rule(data=st.data(), urgency=st.sampled_from(list(Urgency)))
    def asks_again_while_waiting(self, data: st.DataObject, urgency: Urgency) -> None:
        """A member with an open request uses /talk again: the same, calmer or worse."""
        mine = sorted((r.guild, r.member) for r in self.requests.values() if r.active)
        guild, member = data.draw(st.sampled_from(mine), label="who")
        self.ask(guild, member, urgency, None)

    def ask(self, guild: int, member: int, urgency: Urgency, words: str | None) -> None:
        now = self.clock.now()
        self.troubles_before = self.discord.troubles
        outcome = self.run(
            requests.open_request(
                self.database,
                self.clock,
                guild_id=guild,
                member_id=member,
                urgency=urgency,
                locale="en-US",
                context=words,
            )
        )
        current = self.active_of(guild, member)
        if current is None:
            assert isinstance(outcome, Opened), f"asking again must open a request: {outcome}"
            rid = outcome.request.request_id
            assert rid not in self.ever_seen_ids, f"request id {rid} was given out twice"
            self.ever_seen_ids.add(rid)
            self.requests[rid] = Req(
                rid,
                guild,
                member,
                urgency,
                Status.OPEN,
                [words] if words else [],
                started=now,
                troubles_at_open=self.troubles_before,
            )
            self.expect_ping_at_once(guild, member, urgency, first=self.is_first(guild, member))
        elif urgency.rank < current.urgency.rank:
            assert isinstance(outcome, Raised), f"a more urgent ask must raise: {outcome}"
            assert outcome.request.request_id == current.id
            current.urgency = urgency
            if current.status is Status.OPEN:
                current.generation += 1
                current.started = now
                # (After a crash right as its alert reached Discord, the alert is recorded
                # only when its lease runs out: the rise is shown then, and pinged by the
                # new ladder.)
                if current.troubles_at_open == self.discord.troubles:
                    self.expect_ping_at_once(guild, member, urgency, first=False, raised=True)
        else:
            assert isinstance(outcome, AlreadyOpen), f"one active request each: {outcome}"
            assert outcome.request.request_id == current.id
        self.drain()

    def is_first(self, guild: int, member: int) -> bool:
        closed = self.last_closed.get((guild, member))
        return closed is None or self.clock.now() - closed > FOLD_WINDOW

    def expect_ping_at_once(
        self, guild: int, member: int, urgency: Urgency, *, first: bool, raised: bool = False
    ) -> None:
        """A first request pings at once, and so does one more urgent than the last ping
        about this member (asked again, or raised); the flood limit may hold back others."""
        pings = self.immediate_pings.get((guild, member), [])
        more_urgent = not pings or urgency.rank < pings[-1][1].rank
        expected = first or more_urgent
        self.pending_ping_check = (guild, member, urgency, expected, self.troubles_before)

    def pick_request(self, data: st.DataObject) -> int:
        known = sorted(self.requests) + self.stale_ids
        return data.draw(st.sampled_from(known), label="request")

    def own_active(self, data: st.DataObject) -> tuple[int, int, int | None]:
        """A member's own active request, pressed in its server or in a DM."""
        mine = sorted(r.id for r in self.requests.values() if r.active and not r.erased)
        request = self.requests[data.draw(st.sampled_from(mine), label="own request")]
        context = data.draw(st.sampled_from((None, request.guild)), label="pressed in")
        return request.id, request.member, context

    def anyone_anywhere(self, data: st.DataObject) -> tuple[int, int, int | None]:
        """Any request (or a stale id), pressed by anyone, in either server or a DM."""
        rid, user = self.pick_request(data), data.draw(st.sampled_from(EVERYONE), label="user")
        return rid, user, data.draw(st.sampled_from((A, B, None)), label="pressed in")

    def has_own_active(self) -> bool:
        return any(r.active and not r.erased for r in self.requests.values())

    @rule(data=st.data())
    def add_words(self, data: st.DataObject) -> None:
        self.add_words_as(*self.anyone_anywhere(data))

    @precondition(has_own_active)
    @rule(data=st.data())
    def member_adds_words(self, data: st.DataObject) -> None:
        self.add_words_as(*self.own_active(data))

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.cancel_as(*self.anyone_anywhere(data))

    @precondition(has_own_active)
    @rule(data=st.data())
    def member_is_ok_now(self, data: st.DataObject) -> None:
        self.cancel_as(*self.own_active(data))

    def add_words_as(self, rid: int, user: int, context: int | None) -> None:
        request = self.requests.get(rid)
        allowed = (
            request is not None
            and request.active
            and request.member == user
            and context in (None, request.guild)
        )
        try:
            self.run(
                requests.add_context(
                    self.database, self.clock, rid, user, "More words", guild_id=context
                )
            )
        except TransitionRefused:
            assert not allowed, "the member's own words were refused"
        else:
            assert allowed, f"added words to request {rid} as {user} from {context}"
            assert request is not None
            request.words.append("More words")
        self.drain()

    def cancel_as(self, rid: int, user: int, context: int | None) -> None:
        request = self.requests.get(rid)
        allowed = (
            request is not None
            and request.active
            and request.member == user
            and not request.erased
            and context in (None, request.guild)
        )
        try:
            self.run(requests.cancel(self.database, self.clock, rid, user, guild_id=context))
        except TransitionRefused:
            assert not allowed, "the member could not close their own request"
        else:
            assert allowed, f"closed request {rid} as {user} from {context}"
            assert request is not None
            request.status = Status.CANCELLED
            self.last_closed[(request.guild, request.member)] = self.clock.now()
        self.drain()

    # ----- moderators -----------------------------------------------------------------
    def moderator_action(self, data: st.DataObject) -> tuple[int, int, Req | None, bool]:
        guild = data.draw(st.sampled_from((A, B)), label="server")
        user = data.draw(st.sampled_from(EVERYONE), label="presser")
        rid = self.pick_request(data)
        request = self.requests.get(rid)
        may = (
            request is not None
            and not request.deleted
            and request.guild == guild
            and user in MODERATORS[guild]
        )
        return guild, user, request if may else None, rid

    @precondition(lambda self: any(not r.deleted for r in self.requests.values()))
    @rule(data=st.data(), action=st.sampled_from(("claim", "resolve", "handoff", "read")))
    def moderator_of_the_other_server_presses(self, data: st.DataObject, action: str) -> None:
        """A button naming a request of one server, pressed by a moderator of the other (an
        id given out twice, or any wrong id on a message, would look like this)."""
        rid = data.draw(
            st.sampled_from(sorted(r.id for r in self.requests.values() if not r.deleted)),
            label="request",
        )
        request = self.requests[rid]
        guild = B if request.guild == A else A
        user = data.draw(st.sampled_from(MODERATORS[guild]), label="moderator")
        transition = {
            "claim": requests.claim,
            "resolve": requests.resolve,
            "handoff": requests.hand_off,
            "read": requests.read_context,
        }[action]
        before = self.saved_requests()[rid]
        with pytest.raises(TransitionRefused):
            self.run(transition(self.database, self.clock, guild, rid, actor(guild, user)))
        after = self.saved_requests()[rid]
        assert (after.status, after.claimed_by, after.generation) == (
            before.status,
            before.claimed_by,
            before.generation,
        ), f"a moderator of another server changed request {rid}"
        self.drain()

    @rule(data=st.data())
    def claim(self, data: st.DataObject) -> None:
        guild, user, request, rid = self.moderator_action(data)
        allowed = request is not None and request.status is Status.OPEN and request.member != user
        try:
            self.run(requests.claim(self.database, self.clock, guild, rid, actor(guild, user)))
        except TransitionRefused:
            assert not allowed, f"a moderator of {guild} could not claim {rid}"
        else:
            assert allowed, f"{user} claimed request {rid} from server {guild}"
            assert request is not None
            request.status, request.claimed_by, request.acted_on = Status.CLAIMED, user, True
        self.drain()

    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        guild, user, request, rid = self.moderator_action(data)
        allowed = request is not None and request.active
        try:
            self.run(requests.resolve(self.database, self.clock, guild, rid, actor(guild, user)))
        except TransitionRefused:
            assert not allowed, f"a moderator of {guild} could not resolve {rid}"
        else:
            assert allowed, f"{user} resolved request {rid} from server {guild}"
            assert request is not None
            request.status, request.acted_on = Status.RESOLVED, True
            # A moderator closed it: a new request is a new situation, with its own ping.
            self.immediate_pings.pop((request.guild, request.member), None)
            self.last_closed.pop((request.guild, request.member), None)
        self.drain()

    @rule(data=st.data())
    def hand_off(self, data: st.DataObject) -> None:
        guild, user, request, rid = self.moderator_action(data)
        allowed = request is not None and request.status is Status.CLAIMED
        try:
            self.run(requests.hand_off(self.database, self.clock, guild, rid, actor(guild, user)))
        except TransitionRefused:
            assert not allowed, f"a moderator of {guild} could not hand off {rid}"
        else:
            assert allowed, f"{user} handed off request {rid} from server {guild}"
            assert request is not None
            request.status, request.claimed_by, request.acted_on = Status.OPEN, None, True
            request.generation += 1
            request.started = self.clock.now()
        self.drain()

    @rule(data=st.data())
    def read_words(self, data: st.DataObject) -> None:
        guild, user, request, rid = self.moderator_action(data)
        try:
            _, words = self.run(
                requests.read_context(self.database, self.clock, guild, rid, actor(guild, user))
            )
        except TransitionRefused:
            assert request is None, f"a moderator of {guild} could not read {rid}"
        else:
            assert request is not None, f"{user} read request {rid} from server {guild}"
            if not request.words:
                assert words is None
            else:
                assert words is not None
                assert all(piece in words for piece in request.words)

    # ----- erasure, restarts, time, Discord -------------------------------------------
    def erased(self, guild: int, member: int) -> None:
        for request in self.requests.values():
            if (request.guild, request.member) != (guild, member) or request.deleted:
                continue
            if request.acted_on:
                request.erased, request.words = True, []
                if request.active:
                    request.status = Status.CANCELLED
            else:
                request.deleted = True
        self.erased_pairs.add((guild, member))
        self.last_closed.pop((guild, member), None)
        self.immediate_pings.pop((guild, member), None)

    @rule(guild=st.sampled_from((A, B)), data=st.data())
    def privacy_delete(self, guild: int, data: st.DataObject) -> None:
        member = data.draw(st.sampled_from(MEMBERS[guild] + MODERATORS[guild]), label="member")
        self.erase_by_request(guild, member)

    @precondition(lambda self: any(not r.deleted and not r.erased for r in self.requests.values()))
    @rule(data=st.data())
    def someone_who_asked_erases_their_data(self, data: st.DataObject) -> None:
        asked = sorted({(r.guild, r.member) for r in self.requests.values() if not r.deleted})
        self.erase_by_request(*data.draw(st.sampled_from(asked), label="who"))

    def erase_by_request(self, guild: int, member: int) -> None:
        self.run(member_data.delete_member(self.database, self.clock, guild, member))
        self.erased(guild, member)
        self.drain()
        self.check_erased(guild, member)

    @rule(guild=st.sampled_from((A, B)), data=st.data())
    def leaves_the_server(self, guild: int, data: st.DataObject) -> None:
        member = data.draw(st.sampled_from(MEMBERS[guild]), label="member")
        self.run(retention.member_left(self.database, self.clock, guild, member))
        self.drain()  # the grace period is 0 days: erased now
        self.erased(guild, member)
        self.check_erased(guild, member)
        self.run(retention.member_returned(self.database, guild, member))

    def check_erased(self, guild: int, member: int) -> None:
        async def look() -> tuple[list[Any], list[Any]]:
            async with self.database.session() as session:
                rows = (
                    await session.scalars(
                        select(SupportRequest.id).where(
                            SupportRequest.guild_id == guild, SupportRequest.member_id == member
                        )
                    )
                ).all()
                pending = (
                    await session.scalars(
                        select(OutboxMessage.idempotency_key).where(
                            OutboxMessage.status.in_(("pending", "sending")),
                            OutboxMessage.guild_id == guild,
                        )
                    )
                ).all()
                hits = await member_data.scan(session, member)
            return list(rows), [list(pending), hits]

        rows, (pending, hits) = self.run(look())
        assert rows == [], "an erased member's requests still name them"
        gone = {r.id for r in self.requests.values() if r.deleted}
        left = [k for k in pending if (m := re.match(r"talk:(\d+):", k)) and int(m[1]) in gone]
        assert left == [], f"outbox rows of erased requests wait for ever: {left}"
        if member in IN_ONE_SERVER_ONLY:
            assert hits == [], f"the erased member's id is still in {hits}"
        # No message in the alert channel names a member who erased their data; nor does any
        # alert name a moderator who did (a note that pinged them there is Discord's).
        named = [
            m.id
            for m in self.discord.messages.values()
            if m.channel_id == ALERTS[guild]
            and f"<@{member}>" in _text(m)
            and (m.view_args or member not in MODERATORS[guild])
        ]
        if not pending:  # (an edit that waits for Discord to recover is still on its way)
            assert named == [], "an alert still names a member who erased their data"

    @rule()
    def restart(self) -> None:
        self.start_process()
        self.drain()

    @rule()
    def crash_after_the_next_send(self) -> None:
        self.discord.crash_next = True

    @rule(times=st.integers(min_value=1, max_value=3))
    def discord_fails(self, times: int) -> None:
        self.discord.fail_next = times

    @rule(minutes=st.sampled_from((0.5, 1, 2, 3, 5, 10, 20, 45)))
    def time_passes(self, minutes: float) -> None:
        """Time passes with the bot running: its dispatcher looks at least every few minutes
        (a running one polls every 5 seconds): a message re-sent after a crash is re-sent
        within Discord's nonce window, as it is in real life."""
        while minutes > 0:
            step = min(minutes, 2)
            self.clock.advance(minutes=step)
            minutes -= step
            self.drain()

    # ----- what was sent --------------------------------------------------------------
    pending_ping_check: tuple[int, int, Urgency, bool, int] | None = None
    troubles_before = 0

    def keys_of_sends(self) -> dict[int, str]:
        async def read() -> dict[int, str]:
            async with self.database.session() as session:
                rows = await session.execute(
                    select(OutboxMessage.id, OutboxMessage.idempotency_key)
                )
                return dict(rows.all())

        return self.run(read())

    def account_for_sends(self) -> None:
        """Check each message sent since the last step against the model."""
        sends, self.discord.new_sends = self.discord.new_sends, []
        keys = self.keys_of_sends() if sends else {}
        pinged_now: list[tuple[int, int, Urgency, bool]] = []
        for delivery, message_id in sends:
            assert delivery.nonce is not None, "every new message has a nonce"
            key = keys.get(int(delivery.nonce.removeprefix("kinfolk-")))
            if key is None:  # the row was erased with its member after the send
                continue
            found = re.fullmatch(r"talk:(\d+):(.+)", key)
            if found is None:
                continue
            request = self.requests[int(found[1])]
            step = found[2]
            channel = ALERTS[request.guild]
            if delivery.target_type == "channel":
                assert delivery.target_id == channel, f"{key} went to another server's channel"
            if re.fullmatch(r"g\d+:(reping|escalate|member)", step):
                assert step not in request.sent_steps, f"ladder step {key} was sent twice"
                assert step in request.due_steps(self.clock.now()), (
                    f"ladder step {key} was sent while request {request.id} was "
                    f"{request.status} in generation {request.generation}"
                )
                request.sent_steps.add(step)
            elif delivery.ping_roles and not step.endswith(":handoff"):
                # A moderator's hand-off pings for a new moderator: not the member asking.
                crashed = message_id in self.discord.crashed
                pinged_now.append((request.guild, request.member, request.urgency, crashed))
        for guild, member, urgency, crashed in pinged_now:
            self.immediate_pings.setdefault((guild, member), []).append(
                (self.clock.now(), urgency, crashed)
            )

    # ----- invariants -----------------------------------------------------------------
    def outbox_state(self) -> dict[str, tuple[str, int]]:
        async def read() -> dict[str, tuple[str, int]]:
            async with self.database.session() as session:
                rows = await session.execute(
                    select(
                        OutboxMessage.idempotency_key, OutboxMessage.status, OutboxMessage.attempts
                    ).where(OutboxMessage.idempotency_key.like("talk%"))
                )
                return {key: (status, attempts) for key, status, attempts in rows.all()}

        return self.run(read())

    def saved_requests(self) -> dict[int, SupportRequest]:
        async def read() -> dict[int, SupportRequest]:
            async with self.database.session() as session:
                rows = (await session.scalars(select(SupportRequest))).all()
            return {row.id: row for row in rows}

        return self.run(read())

    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        if self.db is None:
            return
        saved = self.saved_requests()
        for request in self.requests.values():
            row = saved.get(request.id)
            if request.deleted:
                assert row is None, f"request {request.id} outlived its member's erasure"
                continue
            assert row is not None, f"request {request.id} was lost"
            assert (row.guild_id, row.status, row.urgency) == (
                request.guild,
                request.status.value,
                request.urgency.value,
            ), f"request {request.id}"
            assert (row.member_id == request.member) is not request.erased
        unknown = set(saved) - set(self.requests)
        assert unknown == set(), f"requests nobody asked for: {unknown}"

    @invariant()
    def every_open_request_has_one_true_alert(self) -> None:
        if self.db is None:
            return
        queued = self.outbox_state()

        def waiting(prefix: str) -> bool:
            return any(
                key.startswith(prefix) and status in ("pending", "sending")
                for key, (status, _) in queued.items()
            )

        in_flight = any(status in ("pending", "sending") for status, _ in queued.values())
        for request in self.requests.values():
            showing = self.discord.showing(request.id)
            assert len(showing) <= 1, f"request {request.id} has {len(showing)} alerts"
            for message in showing:
                assert message.channel_id == ALERTS[request.guild], "alert in another server"
            if request.deleted and not in_flight:
                assert showing == [], f"an alert still shows erased request {request.id}"
            if not request.active:
                continue
            if not showing:
                assert waiting(f"talk:{request.id}:"), f"request {request.id}'s alert was lost"
                continue
            [message] = showing
            if waiting(f"talk:{request.id}:"):
                continue  # an update of it is on its way (Discord failed a moment ago)
            label = STYLE[request.urgency][2]
            assert label in _text(message), f"alert of {request.id} doesn't say {label}"
            assert message.view_args.get("status") == request.status.value

    @invariant()
    def every_due_ladder_step_is_sent_or_queued(self) -> None:
        if self.db is None:
            return
        queued = self.outbox_state()
        for request in self.requests.values():
            for step in request.due_steps(self.clock.now()) - request.sent_steps:
                status, _ = queued.get(f"talk:{request.id}:{step}", ("missing", 0))
                assert status in ("pending", "sending"), (
                    f"ladder step {request.id}:{step} fell due and was never sent ({status})"
                )

    @invariant()
    def pings_at_once_are_prompt_and_never_a_flood(self) -> None:
        check, self.pending_ping_check = self.pending_ping_check, None
        if check is not None:
            guild, member, urgency, expected, troubles = check
            pings = self.immediate_pings.get((guild, member), [])
            if expected and troubles == self.discord.troubles:  # (Discord failed: it waits)
                assert pings, "a first or more urgent request did not ping the team at once"
                assert pings[-1][:2] == (self.clock.now(), urgency), "the ping came late"
        for pings in self.immediate_pings.values():
            for (earlier, before, lost), (later, after, _) in itertools.pairwise(pings):
                if lost:  # Discord took it as the process died: the bot never knew of it
                    continue
                assert later - earlier >= CRISIS_QUIET or after.rank < before.rank, (
                    f"the team was pinged twice within {later - earlier} about one member"
                )


def _text(message: Message) -> str:
    return message.content + " " + str(message.embeds)


@pytest.mark.timeout(600)  # a failure's shrinking takes longer than the run itself
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_lifecycle_matches_the_model(backend: str, tmp_path: Path) -> None:
    run_model(
        EscalationModel,
        backend,
        tmp_path,
        examples=profiles.examples(EXAMPLES[backend]),
        steps=STEPS,
    )
