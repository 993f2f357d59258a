"""What Kinfolk says to buddies. Plain text; the same words whatever the reason a pairing
ended, so nobody learns why from them. The constants are marked for translation and
translated where they are shown (`_(PAIRING_ENDED)`), in the reader's language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.i18n import N_, _
from bot.services.circles.offers import Offer

STARTERS = (
    N_("What's one small thing that made you smile this week?"),
    N_("What does a good check-in look like for you: a quick message, or a longer chat?"),
    N_("Is there something you're looking forward to, even a small thing?"),
    N_("What helps you most on a hard day?"),
    N_("What's something you've been enjoying lately: a show, a song, a walk?"),
    N_("What time of day is best for you to chat?"),
)
# The choices of /buddy join (their names are translated with the command's).
FREQUENCIES = {
    "few_times_week": "a few times a week",
    "weekly": "about once a week",
    "fortnightly": "every couple of weeks",
}
# In the intro: "<@member> would like to talk …", one whole sentence a frequency.
WISHES = {
    "few_times_week": N_("{member} would like to talk a few times a week."),
    "weekly": N_("{member} would like to talk about once a week."),
    "fortnightly": N_("{member} would like to talk every couple of weeks."),
}

PAIRING_ENDED = N_(
    "Your buddy pairing for this round has ended. These things happen and it's nobody's "
    "fault. You'll be first in line next round, or use **/buddy rematch** in the server for a "
    "new buddy now."
)
GROUP_SMALLER = N_(
    "One of your buddies has stepped away from this round, so your group is now the two of "
    "you. Carry on as you like; nothing else changes."
)
CHECKUP = N_(
    "Hi! Halfway through this buddy round: did you and your buddy connect? "
    "Your answer is private; your buddy is not told."
)


def _names(mentions: Sequence[str]) -> str:
    """The buddies named in a sentence: <@1>, <@2> and <@3>."""
    if len(mentions) == 1:
        return mentions[0]
    return _("{names} and {last}").format(names=", ".join(mentions[:-1]), last=mentions[-1])


def intro(
    members: Sequence[int],
    ends_at: datetime,
    frequencies: dict[int, str],
    seed: int,
    offers: Mapping[int, Offer] | None = None,
) -> str:
    """The intro in the buddies' thread, in the current language (the server's)."""
    names = _names([f"<@{m}>" for m in members])
    until = f"<t:{int(ends_at.timestamp())}:D>"
    first, second = seed % len(STARTERS), (seed // len(STARTERS) + 1) % len(STARTERS)
    if second == first:
        second = (first + 1) % len(STARTERS)
    if len(members) == 2:
        suits = _(
            "A buddy is someone to check in with: a message, a voice chat, a walk on a call — "
            "whatever suits you both. This thread is just for you."
        )
    else:
        suits = _(
            "A buddy is someone to check in with: a message, a voice chat, a walk on a call — "
            "whatever suits all of you. This thread is just for you."
        )
    lines = [
        _("👋 Welcome, {names}! You're buddies until {date}.").format(names=names, date=until),
        suits,
        "",
        _("A couple of ways to start:"),
        f"• {_(STARTERS[first])}",
        f"• {_(STARTERS[second])}",
    ]
    wishes = [_(WISHES[f]).format(member=f"<@{m}>") for m, f in frequencies.items()]
    if wishes:
        lines += ["", *wishes]
    glad = [offer_line(m, offer) for m, offer in (offers or {}).items() if m in members]
    if glad:
        lines += ["", *glad]
    lines += [
        "",
        _(
            "Halfway through I'll ask each of you privately whether you connected. If it isn't "
            "a good fit, that's okay: say so there, and nobody is told why."
        ),
    ]
    return "\n".join(lines)


def offer_line(member: int, offer: Offer) -> str:
    """What a member chose to share about the support they're glad to give."""
    kinds = [k.support for k in offer.kinds]
    if offer.topics:
        kinds.append(_("advice on {topics}").format(topics=", ".join(offer.topics)))
    return _("{member} is glad to offer {offers}.").format(
        member=f"<@{member}>", offers="; ".join(kinds)
    )
