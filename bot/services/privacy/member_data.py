"""What Kinfolk holds about one member in one server: counts (/privacy show), a copy
(/privacy export), erasure (/privacy delete, and members who left), and a scan of every
table for the member's id (what the tests check erasure with)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, Text, and_, cast, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import (
    AuditEntry,
    Base,
    BuddyGroup,
    BuddyGroupMember,
    OutboxMessage,
    SupportOffer,
    SupportRequest,
    ThinkingNote,
)
from bot.db.repositories import app_state, audit
from bot.services.escalation import requests as escalation_requests
from bot.services.privacy.registry import REGISTRY, MemberColumn

TOMBSTONE_STATE = "privacy.tombstone_secret"  # the app_state row holding it


async def tombstone(session: AsyncSession, guild_id: int, user_id: int, *, now: datetime) -> int:
    """The member's pseudonym in this server: a negative number, the same every time, that
    cannot be turned back into their id without the deployment's secret."""
    secret = await app_state.get_value(session, TOMBSTONE_STATE)
    if secret is None:
        await app_state.set_if_absent(
            session, TOMBSTONE_STATE, base64.b64encode(os.urandom(32)).decode(), now=now
        )
        secret = await app_state.get_value(session, TOMBSTONE_STATE)
    assert secret is not None
    digest = hmac.new(secret.encode(), f"{guild_id}:{user_id}".encode(), hashlib.sha256).digest()
    return -(int.from_bytes(digest[:8], "big") >> 2) - 1


def _scope(entry: MemberColumn, guild_id: int) -> Any:
    model: Any = entry.model
    if entry.model is BuddyGroupMember:
        return BuddyGroupMember.group_id.in_(
            select(BuddyGroup.id).where(BuddyGroup.guild_id == guild_id)
        )
    return model.guild_id == guild_id


def _mine(entry: MemberColumn, guild_id: int, user_id: int, *, pending: bool = False) -> Any:
    column = getattr(entry.model, entry.column)
    if entry.on_delete == "outbox":
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


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def export(db: Database, guild_id: int, user_id: int) -> dict[str, Any]:
    """Everything stored about the member in this server, free text decrypted. What others
    keep about them in confidence (someone's block, someone's private circle) is not theirs
    to read, and an anonymous note they received does not name its sender."""
    tables: dict[str, list[dict[str, Any]]] = {}
    async with db.session() as session:
        for entry in REGISTRY:
            if entry.what is None:
                continue
            rows = (
                await session.scalars(select(entry.model).where(_mine(entry, guild_id, user_id)))
            ).all()
            out = []
            for row in rows:
                values = {
                    c.key: _json_value(getattr(row, c.key))
                    for c in entry.model.__mapper__.column_attrs  # type: ignore[attr-defined]
                }
                if (
                    isinstance(row, ThinkingNote)
                    and entry.column == "recipient_id"
                    and row.anonymous
                ):
                    values["sender_id"] = None
                if isinstance(row, SupportOffer) and row.topics:
                    values["topics"] = json.loads(row.topics)
                if isinstance(row, OutboxMessage):
                    values = {k: values[k] for k in ("kind", "status", "due_at", "sent_at")}
                out.append(values)
            if out:
                tables.setdefault(f"{entry.table}.{entry.column}", []).extend(out)
    return {"guild_id": guild_id, "user_id": user_id, "data": tables}


@dataclass
class Erased:
    deleted: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


KEPT_WHY = {
    "support_requests": "your “I need to talk” requests a moderator acted on, with your id "
    "replaced by a pseudonym and your words erased: moderators' actions must stay accountable",
    "support_requests.handled": "“I need to talk” requests you handled as a moderator, with "
    "your id replaced by a pseudonym: they belong to the members who asked",
    "audit_log": "the audit log of moderators' actions involving you, under a pseudonym",
    "buddy_blocks": "blocks other members made, under a pseudonym, so they are never paired "
    "with you (these are theirs, for their safety)",
    "buddy_rounds": "buddy rounds you started as a moderator, under a pseudonym",
    "circle_people": "other members' private circles that named you now hold only the name "
    "they gave, not a link to your account",
}


async def _keys(session: AsyncSession, model: Any, condition: Any) -> set[tuple[Any, ...]]:
    """The primary keys of the rows matching `condition`."""
    columns = list(model.__table__.primary_key.columns)
    return {tuple(row) for row in (await session.execute(select(*columns).where(condition))).all()}


async def erase(session: AsyncSession, guild_id: int, user_id: int, *, now: datetime) -> Erased:
    """Erase the member from this server in the caller's unit of work."""
    tomb = await tombstone(session, guild_id, user_id, now=now)
    deleted: dict[str, int] = {}
    kept: dict[str, set[tuple[Any, ...]]] = {}

    def gone(table: str, result: Any) -> None:
        if result.rowcount:
            deleted[table] = deleted.get(table, 0) + result.rowcount

    for entry in REGISTRY:
        column = getattr(entry.model, entry.column)
        mine = _mine(entry, guild_id, user_id)
        if entry.on_delete == "delete":
            gone(entry.table, await session.execute(delete(entry.model).where(mine)))
        elif entry.on_delete in ("tombstone", "unlink"):
            # Requests the member handled as a moderator are kept for another reason than
            # their own requests: told apart in what the member reads.
            reason = "support_requests.handled" if entry.model is SupportRequest else entry.table
            kept.setdefault(reason, set()).update(await _keys(session, entry.model, mine))
            value = tomb if entry.on_delete == "tombstone" else None
            await session.execute(update(entry.model).where(mine).values({column: value}))
        elif entry.on_delete == "outbox":
            text = str(user_id)
            gone(
                entry.table,
                await session.execute(
                    delete(OutboxMessage).where(
                        OutboxMessage.guild_id == guild_id,
                        or_(
                            mine,
                            OutboxMessage.idempotency_key.like(f"%:{text}:%"),
                            OutboxMessage.idempotency_key.like(f"%:{text}"),
                            cast(OutboxMessage.payload, Text).like(f"%{text}%"),
                        ),
                    )
                ),
            )
    # Alerts of requests they handled as a moderator no longer name them.
    await escalation_requests.refresh_alerts_handled_by(session, guild_id, tomb, now)
    # Last, so that the neutral edits of their alerts it queues are not taken for rows
    # about the member by the outbox rule above.
    requests = await escalation_requests.erase_member(
        session, guild_id, user_id, tomb=tomb, now=now
    )
    if requests.deleted:
        deleted["support_requests"] = deleted.get("support_requests", 0) + requests.deleted
    if requests.outbox:
        deleted["outbox_messages"] = deleted.get("outbox_messages", 0) + requests.outbox
    if requests.kept:
        kept.setdefault("support_requests", set()).update((rid,) for rid in requests.kept)
    # Ids inside the audit log's details (e.g. who a request was handed off from).
    rows = await session.scalars(
        select(AuditEntry).where(
            AuditEntry.guild_id == guild_id, cast(AuditEntry.detail, Text).like(f"%{user_id}%")
        )
    )
    for row in rows.all():
        row.detail = json.loads(json.dumps(row.detail).replace(str(user_id), str(tomb)))
        kept.setdefault("audit_log", set()).add((row.id,))
    return Erased(deleted, {table: len(keys) for table, keys in kept.items() if keys})


async def delete_member(db: Database, clock: Clock, guild_id: int, user_id: int) -> Erased:
    """/privacy delete: erase, and record in the audit log that it was done (under the
    member's pseudonym)."""
    now = clock.now()
    async with db.session() as session:
        erased = await erase(session, guild_id, user_id, now=now)
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=await tombstone(session, guild_id, user_id, now=now),
            action="privacy.delete",
            now=now,
            detail={"deleted": erased.deleted, "kept": erased.kept},
        )
        return erased


async def export_member(db: Database, clock: Clock, guild_id: int, user_id: int) -> dict[str, Any]:
    """/privacy export, recorded in the audit log."""
    data = await export(db, guild_id, user_id)
    async with db.session() as session:
        await audit.append(
            session, guild_id=guild_id, actor_id=user_id, action="privacy.export", now=clock.now()
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
