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
from bot.i18n import N_, _, ngettext, number


class Kind(StrEnum):
    EMOTIONAL = "emotional"
    PRACTICAL = "practical"
    INFORMATIONAL = "informational"
    COMPANIONSHIP = "companionship"

    @property
    def label(self) -> str:
        """The kind's name, in the current language."""
        return _(_LABELS[self][0])

    @property
    def meaning(self) -> str:
        """What the kind means, in the current language."""
        return _(_LABELS[self][1])

    @property
    def support(self) -> str:
        """An item of a list of offers, "emotional support (someone who listens)"."""
        return _(_SUPPORT[self])

    @property
    def offered(self) -> str:
        """An item of what a member offers, "emotional (someone who listens)"."""
        return _(_OFFERED[self])

    @property
    def emoji(self) -> str:
        return _LABELS[self][2]


_LABELS = {
    Kind.EMOTIONAL: (N_("Emotional"), N_("someone who listens"), "💛"),
    Kind.PRACTICAL: (N_("Practical"), N_("help with tasks, meals, lifts"), "🧰"),
    Kind.INFORMATIONAL: (
        N_("Informational"),
        N_("advice from someone who has been there"),
        "🧭",
    ),
    Kind.COMPANIONSHIP: (N_("Companionship"), N_("shared time, belonging"), "🌿"),
}
_SUPPORT = {
    Kind.EMOTIONAL: N_("emotional support (someone who listens)"),
    Kind.PRACTICAL: N_("practical support (help with tasks, meals, lifts)"),
    Kind.INFORMATIONAL: N_("informational support (advice from someone who has been there)"),
    Kind.COMPANIONSHIP: N_("companionship support (shared time, belonging)"),
}
_OFFERED = {
    Kind.EMOTIONAL: N_("emotional (someone who listens)"),
    Kind.PRACTICAL: N_("practical (help with tasks, meals, lifts)"),
    Kind.INFORMATIONAL: N_("informational (advice from someone who has been there)"),
    Kind.COMPANIONSHIP: N_("companionship (shared time, belonging)"),
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
        """How the person is written in the member's circle (in the current language)."""
        who = f"<@{self.user_id}>" if self.user_id is not None else (self.name or _("someone"))
        return _("{person} (professional)").format(person=who) if self.professional else who


def check_name(text: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise InvalidInput(_("Please type a name, like “my sister” or “Sam”. Nothing was changed."))
    if len(name) > NAME_MAX_CHARS:
        raise InvalidInput(
            ngettext(
                "Please keep the name under {count} character. Nothing was changed.",
                "Please keep the name under {count} characters. Nothing was changed.",
                NAME_MAX_CHARS,
            ).format(count=number(NAME_MAX_CHARS))
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
                ngettext(
                    "“{topic}…” is long for a topic; please keep each under {count} "
                    "character. Nothing was changed.",
                    "“{topic}…” is long for a topic; please keep each under {count} "
                    "characters. Nothing was changed.",
                    TOPIC_MAX_CHARS,
                ).format(topic=topic[:20], count=number(TOPIC_MAX_CHARS))
            )
        if topic.lower() not in (t.lower() for t in topics):
            topics.append(topic)
    if len(topics) > MAX_TOPICS:
        raise InvalidInput(
            ngettext(
                "Up to {count} topic, please. Nothing was changed.",
                "Up to {count} topics, please. Nothing was changed.",
                MAX_TOPICS,
            ).format(count=number(MAX_TOPICS))
        )
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
        again = int((last_to_recipient + NOTE_RECIPIENT_GAP).timestamp())
        return NoteVerdict(
            False,
            _(
                "You sent them a note in the last week. One a week keeps it special; "
                "you could try again after {date}."
            ).format(date=f"<t:{again}:D>"),
        )
    recent = [at for at in sent_by_sender if now - at < timedelta(days=1)]
    if len(recent) >= NOTES_PER_DAY:
        return NoteVerdict(
            False,
            ngettext(
                "You've sent {count} note today, which is lovely. Let's leave it there "
                "for today, so each one stays special.",
                "You've sent {count} notes today, which is lovely. Let's leave it there "
                "for today, so each one stays special.",
                NOTES_PER_DAY,
            ).format(count=number(NOTES_PER_DAY)),
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
