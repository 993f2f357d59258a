"""What Kinfolk says to buddies. Plain text; the same words whatever the reason a pairing
ended, so nobody learns why from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.services.circles.offers import Offer

STARTERS = (
    "What's one small thing that made you smile this week?",
    "What does a good check-in look like for you: a quick message, or a longer chat?",
    "Is there something you're looking forward to, even a small thing?",
    "What helps you most on a hard day?",
    "What's something you've been enjoying lately: a show, a song, a walk?",
    "What time of day is best for you to chat?",
)
FREQUENCIES = {
    "few_times_week": "a few times a week",
    "weekly": "about once a week",
    "fortnightly": "every couple of weeks",
}

PAIRING_ENDED = (
    "Your buddy pairing for this round has ended. These things happen and it's nobody's "
    "fault. You'll be first in line next round, or use **/buddy rematch** in the server for a "
    "new buddy now."
)
GROUP_SMALLER = (
    "One of your buddies has stepped away from this round, so your group is now the two of "
    "you. Carry on as you like; nothing else changes."
)
CHECKUP = (
    "Hi! Halfway through this buddy round: did you and your buddy connect? "
    "Your answer is private; your buddy is not told."
)


def intro(
    members: Sequence[int],
    ends_at: datetime,
    frequencies: dict[int, str],
    seed: int,
    offers: Mapping[int, Offer] | None = None,
) -> str:
    mentions = [f"<@{m}>" for m in members]
    names = ", ".join(mentions[:-1]) + " and " + mentions[-1]
    both = "you both" if len(members) == 2 else "all of you"
    first, second = seed % len(STARTERS), (seed // len(STARTERS) + 1) % len(STARTERS)
    if second == first:
        second = (first + 1) % len(STARTERS)
    lines = [
        f"👋 Welcome, {names}! You're buddies until <t:{int(ends_at.timestamp())}:D>.",
        "A buddy is someone to check in with: a message, a voice chat, a walk on a call — "
        f"whatever suits {both}. This thread is just for you.",
        "",
        "A couple of ways to start:",
        f"• {STARTERS[first]}",
        f"• {STARTERS[second]}",
    ]
    wishes = [f"<@{m}> would like to talk {FREQUENCIES[f]}." for m, f in frequencies.items()]
    if wishes:
        lines += ["", *wishes]
    glad = [offer_line(m, offer) for m, offer in (offers or {}).items() if m in members]
    if glad:
        lines += ["", *glad]
    lines += [
        "",
        "Halfway through I'll ask each of you privately whether you connected. If it isn't a "
        "good fit, that's okay: say so there, and nobody is told why.",
    ]
    return "\n".join(lines)


def offer_line(member: int, offer: Offer) -> str:
    """What a member chose to share about the support they're glad to give."""
    kinds = [f"{k.label.lower()} support ({k.meaning})" for k in offer.kinds]
    if offer.topics:
        kinds.append("advice on " + ", ".join(offer.topics))
    return f"<@{member}> is glad to offer " + "; ".join(kinds) + "."
