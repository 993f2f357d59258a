"""The rules of "I need to talk": urgencies, the life of a request, and the ladder.

A request is OPEN until a moderator claims it, CLAIMED while someone is with the member,
and ends RESOLVED (by a moderator) or CANCELLED (by the member: "I'm OK now"). A hand-off
returns a claimed request to OPEN and starts a new *generation* of its ladder, so steps
scheduled for the old generation fall silent by themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

CONTEXT_MAX_CHARS = 1000  # one message from the member
CONTEXT_TOTAL_MAX_CHARS = 3500  # everything together: fits one embed (4096) with the markers
TALK_COOLDOWN = timedelta(seconds=60)
MAX_TIMER_MINUTES = 24 * 60


class Urgency(StrEnum):
    CHAT = "chat"
    STRUGGLING = "struggling"
    CRISIS = "crisis"

    @property
    def label(self) -> str:
        return URGENCY_LABELS[self]

    @property
    def rank(self) -> int:
        """Lower is more urgent: the queue is sorted by this first."""
        return {Urgency.CRISIS: 0, Urgency.STRUGGLING: 1, Urgency.CHAT: 2}[self]


URGENCY_LABELS = {
    Urgency.CHAT: "I'd like someone to chat with",
    Urgency.STRUGGLING: "I'm struggling",
    Urgency.CRISIS: "I'm in crisis",
}


class Status(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (Status.OPEN, Status.CLAIMED)


ACTIVE_STATUSES = (Status.OPEN, Status.CLAIMED)


class LadderStep(StrEnum):
    REPING = "reping"  # first timer: ping the moderators again
    ESCALATE = "escalate"  # second timer: ping the second tier, reassure the member


@dataclass(frozen=True)
class Timers:
    first: timedelta
    second: timedelta


@dataclass(frozen=True)
class Ladder:
    normal: Timers = Timers(timedelta(minutes=5), timedelta(minutes=15))
    crisis: Timers = Timers(timedelta(minutes=2), timedelta(minutes=5))

    def timers(self, urgency: Urgency) -> Timers:
        return self.crisis if urgency is Urgency.CRISIS else self.normal

    def steps(self, urgency: Urgency, start: datetime) -> list[tuple[LadderStep, datetime]]:
        timers = self.timers(urgency)
        return [
            (LadderStep.REPING, start + timers.first),
            (LadderStep.ESCALATE, start + timers.second),
        ]


def timer_problem(first_minutes: int, second_minutes: int) -> str | None:
    """Why a pair of timers cannot be used, in words for a moderator; None when fine."""
    if not 1 <= first_minutes <= MAX_TIMER_MINUTES or not 1 <= second_minutes <= MAX_TIMER_MINUTES:
        return f"Timers must be between 1 and {MAX_TIMER_MINUTES} minutes."
    if second_minutes <= first_minutes:
        return "The second timer must be longer than the first (it counts from the request too)."
    return None


class TransitionRefused(Exception):
    """A request is not in a state that allows this; the message is safe to show."""


def check_claim(status: Status) -> None:
    if status is Status.CLAIMED:
        raise TransitionRefused("Someone has already claimed this request.")
    if not status.active:
        raise TransitionRefused("This request is already closed.")


def check_resolve(status: Status) -> None:
    if not status.active:
        raise TransitionRefused("This request is already closed.")


def check_hand_off(status: Status) -> None:
    if status is not Status.CLAIMED:
        raise TransitionRefused("Only a claimed request can be handed off.")


def check_member_change(status: Status) -> None:
    if not status.active:
        raise TransitionRefused("That request has already been closed.")


def cooldown_left(last_request_at: datetime | None, now: datetime) -> timedelta | None:
    """Time until the member may open another request, or None if they may now."""
    if last_request_at is None:
        return None
    left = last_request_at + TALK_COOLDOWN - now
    return left if left > timedelta(0) else None


def clean_context(text: str | None) -> str | None:
    """Trimmed context, None when empty. Refuses (ValueError) text over the limit."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > CONTEXT_MAX_CHARS:
        raise ValueError(f"context is limited to {CONTEXT_MAX_CHARS} characters")
    return text


def append_context(existing: str | None, addition: str, at: datetime) -> str:
    """Keep what the member said before; mark later additions with their time (UTC).
    Refuses (ValueError) once everything together would pass CONTEXT_TOTAL_MAX_CHARS."""
    combined = (
        addition if not existing else f"{existing}\n\n[added {at:%Y-%m-%d %H:%M} UTC]\n{addition}"
    )
    if len(combined) > CONTEXT_TOTAL_MAX_CHARS:
        raise ValueError("the request holds as many words as it can")
    return combined


@dataclass(frozen=True)
class QueueEntry:
    request_id: int
    urgency: Urgency
    created_at: datetime


EntryT = TypeVar("EntryT", bound=QueueEntry)


def queue_order(entries: Iterable[EntryT]) -> list[EntryT]:
    """Most urgent first; within an urgency, whoever has waited longest."""
    return sorted(entries, key=lambda e: (e.urgency.rank, e.created_at, e.request_id))


def is_moderator(
    role_ids: Iterable[int], has_manage_server: bool, moderator_roles: Iterable[int | None]
) -> bool:
    """Moderators hold one of the configured roles, or Manage Server."""
    return has_manage_server or bool(set(role_ids) & {r for r in moderator_roles if r})
