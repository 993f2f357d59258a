"""Support circles: the four kinds of social support, a member's own map of who gives them
which, the gaps in it, offers of support, "thinking of you" limits and milestones. Pure.

The four kinds follow the social-support research Kinfolk is built on: emotional (someone
who listens), practical (help with tasks, meals, lifts), informational (advice from someone
who has been there) and companionship (shared time, belonging).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from bot.domain.checkins import InvalidInput


class Kind(StrEnum):
    EMOTIONAL = "emotional"
    PRACTICAL = "practical"
    INFORMATIONAL = "informational"
    COMPANIONSHIP = "companionship"

    @property
    def label(self) -> str:
        return _LABELS[self][0]

    @property
    def meaning(self) -> str:
        return _LABELS[self][1]

    @property
    def emoji(self) -> str:
        return _LABELS[self][2]


_LABELS = {
    Kind.EMOTIONAL: ("Emotional", "someone who listens", "💛"),
    Kind.PRACTICAL: ("Practical", "help with tasks, meals, lifts", "🧰"),
    Kind.INFORMATIONAL: ("Informational", "advice from someone who has been there", "🧭"),
    Kind.COMPANIONSHIP: ("Companionship", "shared time, belonging", "🌿"),
}

NAME_MAX_CHARS = 60
MAX_PEOPLE_PER_KIND = 12
TOPIC_MAX_CHARS = 40
MAX_TOPICS = 5
NOTE_MAX_CHARS = 300
# Thinking-of-you: at most this many a day from one sender, one a week to one recipient.
NOTES_PER_DAY = 3
NOTE_RECIPIENT_GAP = timedelta(days=7)
STREAK_MILESTONES = (7, 30, 100, 365)


@dataclass(frozen=True)
class Person:
    """Someone in a member's circle: a server member (`user_id`) or a name they typed."""

    kind: Kind
    user_id: int | None = None
    name: str | None = None
    professional: bool = False

    def display(self) -> str:
        who = f"<@{self.user_id}>" if self.user_id is not None else (self.name or "someone")
        return who + (" (professional)" if self.professional else "")


def check_name(text: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise InvalidInput("Please type a name, like “my sister” or “Sam”. Nothing was changed.")
    if len(name) > NAME_MAX_CHARS:
        raise InvalidInput(
            f"Please keep the name under {NAME_MAX_CHARS} characters. Nothing was changed."
        )
    return name


def gaps(people: Iterable[Person]) -> list[Kind]:
    """The kinds of support nobody in the circle gives, in the standard order."""
    present = {person.kind for person in people}
    return [kind for kind in Kind if kind not in present]


def check_topics(text: str) -> list[str]:
    """Topics for informational support, comma-separated: "job loss, new parent"."""
    topics: list[str] = []
    for part in text.split(","):
        topic = " ".join(part.split())
        if not topic:
            continue
        if len(topic) > TOPIC_MAX_CHARS:
            raise InvalidInput(
                f"“{topic[:20]}…” is long for a topic; please keep each under "
                f"{TOPIC_MAX_CHARS} characters. Nothing was changed."
            )
        if topic.lower() not in (t.lower() for t in topics):
            topics.append(topic)
    if len(topics) > MAX_TOPICS:
        raise InvalidInput(f"Up to {MAX_TOPICS} topics, please. Nothing was changed.")
    return topics


@dataclass(frozen=True)
class NoteVerdict:
    allowed: bool
    reason: str | None = None


def may_send_note(
    sent_by_sender: Sequence[datetime],
    last_to_recipient: datetime | None,
    now: datetime,
) -> NoteVerdict:
    """The limits on thinking-of-you notes: `sent_by_sender` are the sender's notes in the
    last day, `last_to_recipient` their last note to this recipient."""
    if last_to_recipient is not None and now - last_to_recipient < NOTE_RECIPIENT_GAP:
        return NoteVerdict(
            False,
            "You sent them a note in the last week. One a week keeps it special; "
            "you could try again after "
            f"<t:{int((last_to_recipient + NOTE_RECIPIENT_GAP).timestamp())}:D>.",
        )
    recent = [at for at in sent_by_sender if now - at < timedelta(days=1)]
    if len(recent) >= NOTES_PER_DAY:
        return NoteVerdict(
            False,
            f"You've sent {NOTES_PER_DAY} notes today, which is lovely. Let's leave it there "
            "for today, so each one stays special.",
        )
    return NoteVerdict(True)


def streak_milestone(before: int, after: int) -> int | None:
    """The streak milestone just reached going from `before` to `after` days, if any."""
    for milestone in STREAK_MILESTONES:
        if before < milestone <= after:
            return milestone
    return None


def years_in_server(joined: date, today: date) -> int:
    years = today.year - joined.year
    if (today.month, today.day) < (joined.month, joined.day):
        years -= 1
    return max(years, 0)
