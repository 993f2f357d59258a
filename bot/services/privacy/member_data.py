"""What Kinfolk holds about one member in one server: counts (/privacy show), a copy
(/privacy export), erasure (/privacy delete, and members who left), and a scan of every
table for the member's id (what the tests check erasure with)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    BindParameter,
    Executable,
    String,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import (
    Base,
    BuddyGroup,
    BuddyGroupMember,
    OutboxMessage,
    SupportRequest,
)
from bot.db.repositories import audit
from bot.db.typed import AnySelect, rowcount, table_of
from bot.i18n import N_, _, ngettext, number
from bot.services.buddies import membership as buddy_membership
from bot.services.circles import notes as circle_notes
from bot.services.escalation import requests as escalation_requests
from bot.services.privacy import export as export_sections
from bot.services.privacy.export import Export
from bot.services.privacy.pseudonyms import tombstone
from bot.services.privacy.registry import REGISTRY, MemberColumn


def _scope(entry: MemberColumn, guild_id: Any) -> Any:
    model: Any = entry.model
    if entry.model is BuddyGroupMember:
        return BuddyGroupMember.group_id.in_(
            select(BuddyGroup.id).where(BuddyGroup.guild_id == guild_id)
        )
    return model.guild_id == guild_id


def _mine(entry: MemberColumn, guild_id: Any, user_id: Any, *, pending: bool = False) -> Any:
    """The member's rows of `entry`: ids given as numbers or as bound parameters."""
    column = getattr(entry.model, entry.column)
    if entry.on_delete == "outbox":
        if entry.column == "member_id":  # about them, to someone else
            condition = and_(OutboxMessage.guild_id == guild_id, column == user_id)
        else:  # to them
            condition = and_(
                OutboxMessage.guild_id == guild_id,
                OutboxMessage.target_type == "user",
                OutboxMessage.target_id == user_id,
            )
        if pending:  # what /privacy show calls "about to send"
            return and_(condition, OutboxMessage.status.in_(("pending", "sending")))
        return condition
    return and_(_scope(entry, guild_id), column == user_id)


async def counts(db: Database, guild_id: int, user_id: int) -> list[tuple[str, int]]:
    """(what, how many rows) for each kind of data the member has here."""
    found: list[tuple[str, int]] = []
    async with db.session() as session:
        for entry in REGISTRY:
            if entry.what is None:
                continue
            n = await session.scalar(
                select(func.count())
                .select_from(entry.model)
                .where(_mine(entry, guild_id, user_id, pending=True))
            )
            if n:
                found.append((entry.what, int(n)))
    return found


async def export(db: Database, guild_id: int, user_id: int, *, now: datetime) -> Export:
    """Everything stored about the member in this server, free text decrypted, in sections
    a person understands (see `bot.services.privacy.export`)."""
    async with db.read() as session:
        return await export_sections.build(session, guild_id, user_id, now)


# What each table's rows are, in words for the member, for how many rows there were.
ERASED_WORDS: dict[str, Callable[[int], str]] = {
    "member_profiles": lambda n: _("your settings (timezone, reminder)"),
    "member_languages": lambda n: _("the language Kinfolk writes to you in"),
    "checkins": lambda n: ngettext(
        "{count} check-in, with its note", "{count} check-ins, with their notes", n
    ).format(count=number(n)),
    "buddy_members": lambda n: _("your place in the buddy programme"),
    "buddy_blocks": lambda n: ngettext(
        "{count} block you made", "{count} blocks you made", n
    ).format(count=number(n)),
    "buddy_group_members": lambda n: ngettext(
        "{count} buddy pairing", "{count} buddy pairings", n
    ).format(count=number(n)),
    "support_requests": lambda n: ngettext(
        "{count} request to talk", "{count} requests to talk", n
    ).format(count=number(n)),
    "moderator_duty": lambda n: _("your on-duty status"),
    "member_activity": lambda n: _("when you were last active, and your reach-out choices"),
    "activity_days": lambda n: ngettext(
        "{count} day you were active (a count)", "{count} days you were active (counts)", n
    ).format(count=number(n)),
    "circle_people": lambda n: ngettext(
        "{count} person in your support circle", "{count} people in your support circle", n
    ).format(count=number(n)),
    "support_offers": lambda n: _("the support you offer"),
    "circle_members": lambda n: _("your circle choices"),
    "thinking_notes": lambda n: ngettext(
        "{count} thinking-of-you note", "{count} thinking-of-you notes", n
    ).format(count=number(n)),
    "member_departures": lambda n: _("the record that you left"),
    "outbox_messages": lambda n: ngettext(
        "the record of {count} message Kinfolk sent or was about to send, to you or about you",
        "the records of {count} messages Kinfolk sent or was about to send, to you or about you",
        n,
    ).format(count=number(n)),
}


def erased_words(deleted: dict[str, int]) -> list[str]:
    """What was erased, in words, one line per kind ("12 check-ins, with their notes")."""
    lines = []
    order = list(ERASED_WORDS)
    for table, n in sorted(
        deleted.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)
    ):
        if n <= 0:
            continue
        words = ERASED_WORDS.get(table)
        lines.append(words(n) if words is not None else table)
    return lines


@dataclass
class Erased:
    deleted: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


# Why rows that mention the member were kept (marked; translated where shown).
KEPT_WHY = {
    "support_requests": N_(
        "your “I need to talk” requests a moderator acted on, with your id "
        "replaced by a pseudonym and your words erased: moderators' actions must stay accountable"
    ),
    "support_requests.handled": N_(
        "“I need to talk” requests you handled as a moderator, with "
        "your id replaced by a pseudonym: they belong to the members who asked"
    ),
    "audit_log": N_("the audit log of moderators' actions involving you, under a pseudonym"),
    "buddy_blocks": N_(
        "blocks other members made, under a pseudonym, so they are never paired "
        "with you (these are theirs, for their safety)"
    ),
    "buddy_rounds": N_("buddy rounds you started as a moderator, under a pseudonym"),
    "circle_people": N_(
        "other members' private circles that named you now hold only the name "
        "they gave, not a link to your account"
    ),
    "thinking_notes": N_(
        "thinking-of-you notes from the last week, under a pseudonym and without "
        "their words, so that the limits on notes still hold; a note that was reported keeps its "
        "words until the moderators close the report, for the other member's safety"
    ),
}


@dataclass(frozen=True)
class _Sweep:
    # For each registry column that erase() deletes, pseudonymises or unlinks directly: its
    # statement, taking the bound parameters the_guild, the_member and the_tomb.
    statements: tuple[tuple[MemberColumn, Executable], ...]
    # The indexes of those columns that hold the member: one statement, a UNION of EXISTS.
    present: Executable


@functools.cache
def _sweep() -> _Sweep:
    # Not named as columns: an UPDATE reserves its columns' names for its SET clause.
    guild_id: BindParameter[int] = bindparam("the_guild")
    user_id: BindParameter[int] = bindparam("the_member")
    tomb: BindParameter[str] = bindparam("the_tomb")
    statements: list[tuple[MemberColumn, Executable]] = []
    checks: list[AnySelect] = []
    for entry in REGISTRY:
        if entry.on_delete not in ("delete", "outbox", "tombstone", "unlink"):
            continue
        table = table_of(entry.model)
        mine = _mine(entry, guild_id, user_id)
        statement: Executable
        if entry.on_delete in ("delete", "outbox"):
            statement = delete(table).where(mine)
        else:
            value = tomb if entry.on_delete == "tombstone" else None
            statement = (
                update(table)
                .where(mine)
                .values({entry.column: value})
                .returning(*table.primary_key.columns)
            )
        # The index is a constant of this module, rendered into the SQL (not a parameter).
        checks.append(
            select(literal_column(str(len(statements)))).where(
                select(literal_column("1")).select_from(table).where(mine).exists()
            )
        )
        statements.append((entry, statement))
    return _Sweep(tuple(statements), union_all(*checks))


class _Tally:
    """What an erasure deleted (rows, by table) and kept (row keys, by reason)."""

    def __init__(self) -> None:
        self.deleted: dict[str, int] = {}
        self.kept: dict[str, set[tuple[Any, ...]]] = {}

    def count(self, table: str, n: int) -> None:
        if n:
            self.deleted[table] = self.deleted.get(table, 0) + n

    def keep(self, reason: str, keys: Iterable[tuple[Any, ...]]) -> None:
        self.kept.setdefault(reason, set()).update(keys)

    def erased(self) -> Erased:
        return Erased(self.deleted, {reason: len(k) for reason, k in self.kept.items() if k})


async def erase(session: AsyncSession, guild_id: int, user_id: int, *, now: datetime) -> Erased:
    """Erase the member from this server in the caller's unit of work. Every row is found
    exactly, by an indexed column that holds the member's id (no text is searched)."""
    tomb = await tombstone(session, guild_id, user_id, now=now)
    tally = _Tally()
    await _take_out_of_features(session, guild_id, user_id, tomb, now, tally)
    await _sweep_registry(session, guild_id, user_id, tomb, tally)
    # Alerts of requests they handled as a moderator no longer name them.
    await escalation_requests.refresh_alerts_handled_by(session, guild_id, tomb, now)
    return tally.erased()


async def _take_out_of_features(
    session: AsyncSession, guild_id: int, user_id: int, tomb: int, now: datetime, tally: _Tally
) -> None:
    """What must happen as the features would do it, before the registry's sweep."""
    # First, while their requests still name them: close, withdraw alerts, drop what was
    # queued about them (the neutral edits it queues name nobody, so nothing below takes them).
    requests = await escalation_requests.erase_member(
        session, guild_id, user_id, tomb=tomb, now=now
    )
    tally.count("support_requests", requests.deleted)
    tally.count("outbox_messages", requests.outbox)
    tally.keep("support_requests", ((rid,) for rid in requests.kept))
    # A running buddy group goes on without them exactly as if they had left: their buddy is
    # told the same neutral words, a pair's thread is closed, a trio's loses them (that row
    # seals their id, so it outlives what follows and they really are taken out).
    await buddy_membership.hold_programme(session, guild_id)  # no round is written meanwhile
    await buddy_membership.leave_group(session, guild_id, user_id, now=now)
    notes = await circle_notes.erase_member(session, guild_id, user_id, tomb=tomb, now=now)
    tally.count("thinking_notes", notes.deleted)
    tally.keep("thinking_notes", ((nid,) for nid in notes.kept))


async def _sweep_registry(
    session: AsyncSession, guild_id: int, user_id: int, tomb: int, tally: _Tally
) -> None:
    """Every registry column that holds the member: deleted, tombstoned or unlinked.

    Plain (Core) statements, built once: the ORM's bulk DELETE/UPDATE, and building each
    statement afresh, cost more than the SQL, and SQLite's one writer is held meanwhile. One
    statement first asks which columns hold the member at all; only those are swept (most
    hold nothing for a given member). What the session holds is written first and read
    afresh afterwards."""
    await session.flush()
    connection = await session.connection()
    ids = {"the_guild": guild_id, "the_member": user_id, "the_tomb": tomb}
    sweep = _sweep()
    present = {row[0] for row in await connection.execute(sweep.present, ids)}
    for index, (entry, statement) in enumerate(sweep.statements):
        if index not in present:
            continue
        result = await connection.execute(statement, ids)
        if entry.on_delete in ("delete", "outbox"):
            tally.count(entry.table, rowcount(result))
        else:  # "tombstone" and "unlink": the rows stay, as kept
            # Requests the member handled as a moderator are kept for another reason than
            # their own requests: told apart in what the member reads.
            reason = "support_requests.handled" if entry.model is SupportRequest else entry.table
            tally.keep(reason, (tuple(row) for row in result.all()))
    session.expire_all()


# The actor of a member's own privacy request in the audit log: nobody in particular. What a
# member asks about their own data is theirs; moderators see that it happened, not who.
MEMBER_REQUEST = 0


async def delete_member(db: Database, clock: Clock, guild_id: int, user_id: int) -> Erased:
    """/privacy delete: erase, and record in the audit log that it was done, without
    saying by whom."""
    now = clock.now()
    async with db.session() as session:
        erased = await erase(session, guild_id, user_id, now=now)
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=MEMBER_REQUEST,
            action="privacy.delete",
            now=now,
            detail={"deleted": erased.deleted, "kept": erased.kept},
        )
        return erased


async def export_member(db: Database, clock: Clock, guild_id: int, user_id: int) -> Export:
    """/privacy export, recorded in the audit log (without saying by whom)."""
    data = await export(db, guild_id, user_id, now=clock.now())
    async with db.session() as session:
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=MEMBER_REQUEST,
            action="privacy.export",
            now=clock.now(),
        )
    return data


def _is_text(kind: Any) -> bool:
    try:
        return kind.python_type is str
    except NotImplementedError:
        return False


async def scan(session: AsyncSession, user_id: int) -> list[tuple[str, str]]:
    """Every (table, column) anywhere in the database that still holds the member's id: as
    an id, or inside text or JSON. Independent of the registry, on purpose."""
    hits: list[tuple[str, str]] = []
    text = str(user_id)
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, BigInteger):
                condition = column == user_id
            elif isinstance(column.type, JSON | String | Text) or _is_text(column.type):
                condition = cast(column, Text).like(f"%{text}%")
            else:
                continue
            n = await session.scalar(select(func.count()).select_from(table).where(condition))
            if n:
                hits.append((table.name, column.name))
    return hits
