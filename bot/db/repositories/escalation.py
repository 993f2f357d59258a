"""Escalation settings, support requests and the duty roster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Select,
    Text,
    Update,
    bindparam,
    delete,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import EscalationSettings, ModeratorDuty, SupportRequest
from bot.db.typed import AnySelect, dialect_of, rowcount, table_of
from bot.db.upsert import insert_ignoring_conflicts, insert_skipping_conflicts, update_guild_row
from bot.domain.escalation import ACTIVE_STATUSES


async def get_settings(session: AsyncSession, guild_id: int) -> EscalationSettings | None:
    return await session.get(EscalationSettings, guild_id)


async def update_settings(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> EscalationSettings:
    return await update_guild_row(session, EscalationSettings, guild_id, now=now, **values)


@cache
def _clear_problem() -> Update:
    return (
        update(EscalationSettings)
        .where(
            EscalationSettings.guild_id == bindparam("g"),
            EscalationSettings.alert_problem.is_not(None),
        )
        .values(alert_problem=None, updated_at=bindparam("at"))
        .execution_options(synchronize_session=False)
    )


async def clear_problem(session: AsyncSession, guild_id: int, *, now: datetime) -> None:
    """Forget the problem noted with the server's alert channel, if any: one statement that
    changes nothing when there is none (after every post there: the channel works)."""
    await session.execute(_clear_problem(), {"g": guild_id, "at": now})


async def get_request(
    session: AsyncSession, request_id: int, *, for_update: bool = False
) -> SupportRequest | None:
    return await session.get(
        SupportRequest, request_id, with_for_update=for_update, populate_existing=for_update
    )


async def active_request(
    session: AsyncSession, guild_id: int, member_id: int, *, for_update: bool = False
) -> SupportRequest | None:
    query = select(SupportRequest).where(
        SupportRequest.guild_id == guild_id,
        SupportRequest.member_id == member_id,
        SupportRequest.status.in_(ACTIVE_STATUSES),
    )
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def latest_request(
    session: AsyncSession, guild_id: int, member_id: int, *, for_update: bool = False
) -> SupportRequest | None:
    """The member's newest request in this server, whatever its state."""
    query = _latest_request(for_update)
    return await session.scalar(query, {"g": guild_id, "m": member_id})


@cache
def _latest_request(for_update: bool) -> Select[SupportRequest]:
    query = (
        select(SupportRequest)
        .where(
            SupportRequest.guild_id == bindparam("g"), SupportRequest.member_id == bindparam("m")
        )
        .order_by(SupportRequest.id.desc())
        .limit(1)
    )
    return query.with_for_update() if for_update else query


async def member_requests(
    session: AsyncSession, guild_id: int, member_id: int
) -> Sequence[SupportRequest]:
    """All of the member's requests in this server, locked (erasure)."""
    rows = await session.scalars(
        select(SupportRequest)
        .where(SupportRequest.guild_id == guild_id, SupportRequest.member_id == member_id)
        .order_by(SupportRequest.id)
        .with_for_update()
    )
    return rows.all()


# The predicate of the index that allows one active request per member (the model's).
_ACTIVE_PREDICATE = "status IN ('open', 'claimed')"


@cache
def _insert_request(dialect: str) -> Any:
    table = table_of(SupportRequest)
    return insert_skipping_conflicts(
        dialect, table, [table.c.guild_id, table.c.member_id], index_where=_ACTIVE_PREDICATE
    ).returning(table.c.id)


async def insert_request(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Save a new request (the columns in `values`), one statement; its id, or None when the
    member has an active request after all (another /talk, perhaps in another process, got
    there first: the one-active index refuses a second)."""
    statement = _insert_request(dialect_of(session))
    return (await session.execute(statement, values)).scalar_one_or_none()


async def active_requests(session: AsyncSession, guild_id: int) -> Sequence[SupportRequest]:
    rows = await session.scalars(
        select(SupportRequest).where(
            SupportRequest.guild_id == guild_id, SupportRequest.status.in_(ACTIVE_STATUSES)
        )
    )
    return rows.all()


async def set_on_duty(
    session: AsyncSession, guild_id: int, moderator_id: int, *, now: datetime
) -> bool:
    """Record a moderator as on duty; False if they already were."""
    result = await session.execute(
        insert_ignoring_conflicts(
            session,
            ModeratorDuty,
            [ModeratorDuty.guild_id, ModeratorDuty.moderator_id],
            guild_id=guild_id,
            moderator_id=moderator_id,
            since=now,
        )
    )
    return rowcount(result) == 1


async def set_off_duty(session: AsyncSession, guild_id: int, moderator_id: int) -> bool:
    result = await session.execute(
        delete(ModeratorDuty).where(
            ModeratorDuty.guild_id == guild_id, ModeratorDuty.moderator_id == moderator_id
        )
    )
    return rowcount(result) == 1


# ----- what one outbox message of a request needs: one statement, built once (issue 18) ------


@dataclass(frozen=True)
class RequestRow:
    """The columns of a request that `request_info` reads; `context` is whether it has any
    (the words themselves stay encrypted in the database, unread)."""

    id: int
    urgency: str
    created_at: datetime
    guild_id: int
    member_id: int
    status: str
    locale: str | None
    context: bool
    generation: int
    claimed_by: int | None
    claimed_at: datetime | None
    closed_by: int | None
    closed_at: datetime | None
    alert_channel_id: int | None
    alert_message_id: int | None
    thread_id: int | None
    repeat: int


@dataclass(frozen=True)
class SettingsRow:
    """The columns of a server's escalation settings that `config_from` reads."""

    alert_channel_id: int | None
    support_channel_id: int | None
    moderator_role_id: int | None
    on_duty_role_id: int | None
    second_tier_role_id: int | None
    first_minutes: int
    second_minutes: int
    crisis_first_minutes: int
    crisis_second_minutes: int
    resources_text: str | None
    resources_mode: str
    alert_problem: str | None
    resources_region: str | None


_REQUEST_COLUMNS = (
    SupportRequest.id,
    SupportRequest.urgency,
    SupportRequest.created_at,
    SupportRequest.guild_id,
    SupportRequest.member_id,
    SupportRequest.status,
    SupportRequest.locale,
    # Whether it has words, read without decrypting them (`_request_row`). (Not as `IS NOT
    # NULL`: in an UPDATE's RETURNING on SQLite, SQLAlchemy 2.0 answered True for a NULL.)
    type_coerce(SupportRequest.context, Text),
    SupportRequest.generation,
    SupportRequest.claimed_by,
    SupportRequest.claimed_at,
    SupportRequest.closed_by,
    SupportRequest.closed_at,
    SupportRequest.alert_channel_id,
    SupportRequest.alert_message_id,
    SupportRequest.thread_id,
    func.coalesce(SupportRequest.repeat, 0),
)
_CONTEXT = 7  # the position of the context's column in _REQUEST_COLUMNS
_SETTINGS_COLUMNS = (
    EscalationSettings.guild_id,  # None: the server has no settings
    EscalationSettings.alert_channel_id,
    EscalationSettings.support_channel_id,
    EscalationSettings.moderator_role_id,
    EscalationSettings.on_duty_role_id,
    EscalationSettings.second_tier_role_id,
    EscalationSettings.first_minutes,
    EscalationSettings.second_minutes,
    EscalationSettings.crisis_first_minutes,
    EscalationSettings.crisis_second_minutes,
    EscalationSettings.resources_text,
    EscalationSettings.resources_mode,
    EscalationSettings.alert_problem,
    EscalationSettings.resources_region,
)


@cache
def _settings_row() -> AnySelect:
    return select(*_SETTINGS_COLUMNS[1:]).where(EscalationSettings.guild_id == bindparam("g"))


async def settings_row(session: AsyncSession, guild_id: int) -> SettingsRow | None:
    """The server's escalation settings as `config_from` reads them, or None."""
    row = (await session.execute(_settings_row(), {"g": guild_id})).one_or_none()
    return None if row is None else SettingsRow(*row)


@dataclass(frozen=True)
class MessageContext:
    request: RequestRow | None  # None: no such request in this server (erased)
    settings: SettingsRow | None
    on_duty: int  # moderators who said they are on duty


@cache
def _message_context() -> AnySelect:
    guild = bindparam("guild_id", type_=EscalationSettings.guild_id.type)
    request = bindparam("request_id", type_=SupportRequest.id.type)
    # One row whatever exists: the request and the settings are joined to a constant.
    anchor = select(guild.label("guild_id")).subquery()
    on_duty = (
        select(func.count())
        .select_from(ModeratorDuty)
        .where(ModeratorDuty.guild_id == anchor.c.guild_id)
        .scalar_subquery()
    )
    return (
        select(*_REQUEST_COLUMNS, *_SETTINGS_COLUMNS, on_duty)
        .select_from(anchor)
        .outerjoin(
            SupportRequest,
            (SupportRequest.id == request) & (SupportRequest.guild_id == anchor.c.guild_id),
        )
        .outerjoin(EscalationSettings, EscalationSettings.guild_id == anchor.c.guild_id)
    )


async def message_context(session: AsyncSession, guild_id: int, request_id: int) -> MessageContext:
    """The request (only if it is this server's), the server's settings and how many
    moderators are on duty, in one read."""
    row = (
        await session.execute(_message_context(), {"guild_id": guild_id, "request_id": request_id})
    ).one()
    values = tuple(row)
    split = len(_REQUEST_COLUMNS)
    request, settings, on_duty = (
        values[:split],
        values[split : split + len(_SETTINGS_COLUMNS)],
        values[-1],
    )
    return MessageContext(
        request=None if request[0] is None else _request_row(request),
        settings=None if settings[0] is None else SettingsRow(*settings[1:]),
        on_duty=int(on_duty or 0),
    )


@cache
def _place_alert() -> Update:
    return (
        update(SupportRequest)
        .where(SupportRequest.id == bindparam("rid"), SupportRequest.guild_id == bindparam("g"))
        .values(alert_channel_id=bindparam("channel"), alert_message_id=bindparam("message"))
        .returning(*_REQUEST_COLUMNS)
        .execution_options(synchronize_session=False)
    )


async def place_alert(
    session: AsyncSession, guild_id: int, request_id: int, channel_id: int, message_id: int
) -> RequestRow | None:
    """Remember where the request's alert was posted, in one statement that also locks and
    returns the request; None if it is not this server's (or no longer exists)."""
    row = (
        await session.execute(
            _place_alert(),
            {"rid": request_id, "g": guild_id, "channel": channel_id, "message": message_id},
        )
    ).one_or_none()
    return None if row is None else _request_row(tuple(row))


def _request_row(values: tuple[Any, ...]) -> RequestRow:
    """A `RequestRow` from `_REQUEST_COLUMNS`' values (the context's ciphertext, or None)."""
    fields = list(values)
    fields[_CONTEXT] = fields[_CONTEXT] is not None
    return RequestRow(*fields)
