"""The rules of "I need to talk": urgencies, the life of a request, and the ladder.

A request is OPEN until a moderator claims it, CLAIMED while someone is with the member,
and ends RESOLVED (by a moderator) or CANCELLED (by the member: "I'm OK now"). A hand-off
returns a claimed request to OPEN and starts a new *generation* of its ladder, so steps
scheduled for the old generation fall silent by themselves; so does a rise in urgency of a
waiting request (its new ladder runs at the new urgency's pace).

A member may always ask: there is no cooldown. What is limited is how often the team is
*pinged at once* about one member (`plan_alert`): a member who closes a request and asks
again soon after has the new request folded into the alert the team already has, and the
team is pinged again at once only when the new request is more urgent, or a quiet period
has passed since the last ping about them. Either way the new request's ladder runs, so
nobody waits unseen for longer than the ladder's first timer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from bot.i18n import N_, _, ngettext

CONTEXT_MAX_CHARS = 1000  # one message from the member
CONTEXT_TOTAL_MAX_CHARS = 3500  # everything together: fits one embed (4096) with the markers
MAX_TIMER_MINUTES = 24 * 60

# Asking again after "I'm OK now" within this long folds the new request into the same alert.
FOLD_WINDOW = timedelta(minutes=30)
# How long after pinging the team about a member a repeat at the same urgency does not ping
# at once: 10 minutes after the first ping, doubling with each repeat, at most 2 hours.
QUIET_FIRST = timedelta(minutes=10)
QUIET_MAX = timedelta(hours=2)
# For crisis it never grows, and is no longer than the crisis ladder's usual first step.
CRISIS_QUIET = timedelta(minutes=2)


class Urgency(StrEnum):
    CHAT = "chat"
    STRUGGLING = "struggling"
    CRISIS = "crisis"

    @property
    def label(self) -> str:
        """The English label, marked for translation: `_(urgency.label)` where it is shown
        (the /talk command's choices keep the English, translated by the command tree)."""
        return URGENCY_LABELS[self]

    @property
    def rank(self) -> int:
        """Lower is more urgent: the queue is sorted by this first."""
        return {Urgency.CRISIS: 0, Urgency.STRUGGLING: 1, Urgency.CHAT: 2}[self]


URGENCY_LABELS = {
    Urgency.CHAT: N_("I'd like someone to chat with"),
    Urgency.STRUGGLING: N_("I'm struggling"),
    Urgency.CRISIS: N_("I'm in crisis"),
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
        return ngettext(
            "Timers must be between 1 and {maximum} minute.",
            "Timers must be between 1 and {maximum} minutes.",
            MAX_TIMER_MINUTES,
        ).format(maximum=MAX_TIMER_MINUTES)
    if second_minutes <= first_minutes:
        return _("The second timer must be longer than the first (it counts from the request too).")
    return None


class TransitionRefused(Exception):
    """A request is not in a state that allows this; the message is safe to show (it is
    written in the current language when raised: inside the interaction that caused it)."""


def check_claim(status: Status) -> None:
    if status is Status.CLAIMED:
        raise TransitionRefused(_("Someone has already claimed this request."))
    if not status.active:
        raise TransitionRefused(_("This request is already closed."))


def check_resolve(status: Status) -> None:
    if not status.active:
        raise TransitionRefused(_("This request is already closed."))


def check_hand_off(status: Status) -> None:
    if status is not Status.CLAIMED:
        raise TransitionRefused(_("Only a claimed request can be handed off."))


def check_member_change(status: Status) -> None:
    if not status.active:
        raise TransitionRefused(_("That request has already been closed."))


def is_rise(current: Urgency, asked: Urgency) -> bool:
    """Whether asking at `asked` is more urgent than the open request's `current`."""
    return asked.rank < current.rank


@dataclass(frozen=True)
class Previous:
    """The member's latest earlier request in this server, as `plan_alert` needs it."""

    status: Status
    closed_at: datetime | None
    # The alert's channel (None: it was never posted), and whether it is the server's
    # alert channel still.
    alert_posted: bool
    same_channel: bool
    pinged_at: datetime | None  # when the team was last pinged at once about this alert
    pinged_urgency: Urgency | None
    repeat: int  # how many asks were folded into the alert before this one


@dataclass(frozen=True)
class AlertPlan:
    fold: bool  # the new request takes over the previous request's alert message
    ping: bool  # the team is pinged at once
    repeat: int


FRESH = AlertPlan(fold=False, ping=True, repeat=0)


def quiet_period(urgency: Urgency, repeat: int) -> timedelta:
    """How long after a ping a repeat at the same urgency waits for the ladder instead."""
    if urgency is Urgency.CRISIS:
        return CRISIS_QUIET
    return min(QUIET_FIRST * 2 ** max(0, repeat - 1), QUIET_MAX)


def ping_now(
    pinged_urgency: Urgency | None,
    pinged_at: datetime | None,
    urgency: Urgency,
    repeat: int,
    now: datetime,
) -> bool:
    """Whether the team is pinged at once about a member whose last ping was at
    `pinged_urgency`, `pinged_at`: always when more urgent, else once the quiet period of
    `repeat` is over."""
    if pinged_urgency is None or pinged_at is None or is_rise(pinged_urgency, urgency):
        return True
    return now - pinged_at >= quiet_period(urgency, repeat)


def plan_alert(previous: Previous | None, urgency: Urgency, now: datetime) -> AlertPlan:
    """How a new request reaches the team. A first request (or one after a moderator closed
    the last, or long after) gets a fresh alert and pings at once. Asking again soon after
    "I'm OK now" folds into that alert: it pings at once only if more urgent than the last
    ping, or once the quiet period has passed."""
    if (
        previous is None
        or previous.status is not Status.CANCELLED
        or previous.closed_at is None
        or now - previous.closed_at > FOLD_WINDOW
        or not previous.alert_posted
        or not previous.same_channel
    ):
        return FRESH
    repeat = previous.repeat + 1
    ping = ping_now(previous.pinged_urgency, previous.pinged_at, urgency, repeat, now)
    return AlertPlan(fold=True, ping=ping, repeat=repeat)


def clean_context(text: str | None) -> str | None:
    """Trimmed context, None when empty. Refuses (ValueError) text over the limit."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > CONTEXT_MAX_CHARS:
        raise ValueError(
            ngettext(
                "context is limited to {count} character",
                "context is limited to {count} characters",
                CONTEXT_MAX_CHARS,
            ).format(count=CONTEXT_MAX_CHARS)
        )
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


@dataclass(frozen=True)
class Actor:
    """Who pressed a moderator's button or ran a command, with their roles and permission in
    the server they pressed it in."""

    user_id: int
    role_ids: frozenset[int] = frozenset()
    manage_server: bool = False

    def moderates(self, moderator_roles: Iterable[int | None]) -> bool:
        return is_moderator(self.role_ids, self.manage_server, moderator_roles)


MODERATORS_ONLY = N_(
    "Only the server's moderators can do that. If you need to talk, use **/talk** and "
    "someone will be with you."
)


class NotModerator(TransitionRefused):
    """The presser is not a moderator of the request's server."""

    def __init__(self) -> None:
        super().__init__(_(MODERATORS_ONLY))
