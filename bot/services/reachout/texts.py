"""What reach-out says. `{server}` is replaced with the server's name when sent.

Each is marked for translation and shown as `_(TEXT)` (`_(ANSWERS[choice])`), in the
language of whoever reads it: a DM's in `prepare`, in the member's language."""

from __future__ import annotations

from bot.i18n import N_

DEFAULT_MESSAGE = N_(
    "Hi, it's Kinfolk from **{server}**. We haven't seen you around for a little while, and "
    "we wanted to say we're thinking of you. There's no need to explain anything. If you "
    "feel like it, tap one of the buttons below, or just ignore this: it's completely fine."
)
MESSAGE_MAX_CHARS = 1000
ASK_TEXT = N_(
    "One more question, asked only this once: **if you go quiet here for a while, may "
    "Kinfolk send you a short, kind DM to check you're OK?** At most one in a few weeks, "
    "never during your night, and you can stop it any time with **/reachout off**."
)
BUDDY_NUDGE = N_(
    "Hi, it's Kinfolk from **{server}**. Your buddy <@{member}> hasn't been around for a "
    "little while. If you feel like it, a short hello from you might mean a lot. There's "
    "no need to mention this message, and no pressure at all."
)
ANSWERS = {
    "busy": N_("I'm OK, just busy"),
    "checkin": N_("Check in now"),
    "talk": N_("I'd like to talk"),
    "pause": N_("Pause for a month"),
    "stop": N_("Stop these messages"),
}
REPLIES = {
    "busy": N_("Thank you for letting us know. Glad you're OK. Take care of yourself. 💛"),
    "pause": N_("Done: no more of these for a month. We're here whenever you want us."),
    "stop": N_(
        "Done: Kinfolk won't send you these messages again. If you ever want them back, "
        "**/reachout on** in the server turns them on."
    ),
}
