"""The vocabulary between the outbox dispatcher, the features that queue messages, and the
discord adapter that sends them. Plain data: no discord here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.db.models import OutboxMessage


@dataclass(frozen=True)
class QueuedMessage:
    """An outbox row as handed to a kind's handler."""

    id: int
    key: str
    kind: str
    guild_id: int | None
    target_type: str
    target_id: int
    payload: dict[str, Any]
    attempts: int

    @classmethod
    def from_row(cls, row: OutboxMessage) -> QueuedMessage:
        """What a handler is given for outbox row `row`."""
        return cls(
            id=row.id,
            key=row.idempotency_key,
            kind=row.kind,
            guild_id=row.guild_id,
            target_type=row.target_type,
            target_id=row.target_id,
            payload=dict(row.payload),
            attempts=row.attempts,
        )


# Written in a message's content, it becomes the server's name when the message is sent.
SERVER_PLACEHOLDER = "{server}"


@dataclass(frozen=True)
class Delivery:
    """What to send where. `target_type` is "channel", "user" (a DM) or "guild_owner"
    (a DM to the owner of server `target_id`). Mentions ping only the ids listed."""

    target_type: str
    target_id: int
    content: str | None = None
    embeds: tuple[dict[str, Any], ...] = ()
    ping_roles: tuple[int, ...] = ()
    ping_users: tuple[int, ...] = ()
    view: str | None = None
    view_args: dict[str, Any] = field(default_factory=dict)
    reply_to: int | None = None
    # Edit this earlier message of the bot's in the target channel, instead of sending anew.
    edit_message_id: int | None = None
    # The same for every attempt at one outbox row: with it Discord drops a second copy of a
    # message that was in fact sent just before a crash (`enforce_nonce`).
    nonce: str | None = None
    # Open a private thread of this name under the target channel, invite only these members
    # (members who left are passed over), and post the message there.
    thread_name: str | None = None
    thread_members: tuple[int, ...] = ()
    # Called with the new thread's id once it is open, before anything is posted in it: the
    # caller records it, so a retry after a failed post reuses the thread instead of
    # opening another.
    thread_opened: Callable[[int], Awaitable[None]] | None = None
    # Instead of sending a message, change thread `target_id`: take this member out of it,
    # and/or archive and lock it (nobody can write in it any more).
    remove_from_thread: int | None = None
    close_thread: bool = False
    # Replace SERVER_PLACEHOLDER in the content with this server's name.
    server_name_of: int | None = None
    # A DM channel Discord gave before for this user: sending needs no request to open it.
    dm_channel_id: int | None = None
    # An earlier attempt of this message may have reached Discord without the bot learning
    # of it (a crash or a timeout mid-send, longer ago than Discord keeps nonces): look
    # among the target's recent messages for one of the bot's whose first embed has this
    # footer, and answer with it instead of posting again. With `post_if_missing` False,
    # nothing is posted when none is found (Undeliverable PROBLEM_NOT_POSTED).
    find_existing: str | None = None
    post_if_missing: bool = True


@dataclass(frozen=True)
class Sent:
    channel_id: int
    message_id: int


@dataclass(frozen=True)
class Retry:
    """A passing failure (Discord 5xx, a timeout): try again later."""

    reason: str


@dataclass(frozen=True)
class Undeliverable:
    """Discord refused for a reason that will not pass by itself: DMs closed, channel gone,
    permission missing. `code` is one of the PROBLEM_* names below."""

    code: str
    reason: str


PROBLEM_DMS_CLOSED = "dms_closed"
PROBLEM_NO_ACCESS = "no_access"
PROBLEM_NO_PERMISSION = "no_permission"
PROBLEM_UNKNOWN_TARGET = "unknown_target"
PROBLEM_NOT_CONFIGURED = "not_configured"
PROBLEM_NOT_POSTED = "not_posted"  # find_existing found nothing, and nothing was posted

Outcome = Sent | Retry | Undeliverable


@dataclass(frozen=True)
class Skip:
    """Nothing to send any more (e.g. the request was claimed before its re-ping fell due)."""

    reason: str


@dataclass(frozen=True)
class NotYet:
    """Cannot be sent yet (e.g. no alert channel is configured); look again after `after`."""

    reason: str
    after: timedelta


@dataclass(frozen=True)
class Done:
    """The work was done while preparing (e.g. a scheduled round was started, queueing its
    own messages); nothing to send. The row is marked sent."""

    reason: str


Prepared = Delivery | Skip | NotYet | Done


class Sender(Protocol):
    async def deliver(self, delivery: Delivery) -> Outcome: ...


class KindHandler(Protocol):
    """How one kind of outbox message is rendered, and what happens after sending it."""

    @property
    def max_attempts(self) -> int | None:
        """How often to try through passing failures; None: for ever (escalation alerts
        must never give up). A class attribute does."""
        ...

    async def prepare(self, message: QueuedMessage) -> Prepared: ...

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None: ...

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        """Retry after this long, or None to give up on the message."""
        ...


@runtime_checkable
class RecordsSent(Protocol):
    """A handler whose follow-up after sending is a write in the database: the dispatcher
    runs `record_sent` in the same unit of work as marking the row sent. Its `on_sent` (the
    same write in a unit of its own) is called only directly, or by the dispatcher when that
    combined unit failed, before the row is marked on its own."""

    async def record_sent(
        self, session: AsyncSession, message: QueuedMessage, sent: Sent
    ) -> None: ...


class NoFollowUp:
    """Handler mixin: nothing to do after sending, and give up when Discord refuses (the
    reason is recorded on the row: DMs closed, message gone)."""

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        return None

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        return None


class PlainMessage(NoFollowUp):
    """A message whose payload is a ready `Delivery` (DMs, notices)."""

    max_attempts: int | None = 8

    async def prepare(self, message: QueuedMessage) -> Prepared:
        return Delivery(
            target_type=message.target_type, target_id=message.target_id, **message.payload
        )


def plain_payload(
    content: str | None = None,
    *,
    embeds: list[dict[str, Any]] | None = None,
    ping_users: list[int] | None = None,
    view: str | None = None,
    view_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON stored in an outbox row of kind "plain"."""
    payload: dict[str, Any] = {"content": content, "embeds": embeds or []}
    if ping_users:
        payload["ping_users"] = ping_users
    if view:
        payload["view"] = view
        payload["view_args"] = view_args or {}
    return payload
