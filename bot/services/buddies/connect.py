"""The mid-round question, "Did you two connect?", and what each answer does."""

from __future__ import annotations

from enum import StrEnum

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import buddies as repo
from bot.domain.checkins import InvalidInput
from bot.i18n import N_, _
from bot.services.buddies.membership import hold_programme, leave_group


class Answer(StrEnum):
    YES = "yes"
    NOT_YET = "not_yet"
    NOT_FIT = "not_fit"

    @property
    def label(self) -> str:
        """The answer's button, in the current language."""
        return _(_LABELS[self])


_LABELS = {
    Answer.YES: N_("Yes, we connected"),
    Answer.NOT_YET: N_("Not yet"),
    Answer.NOT_FIT: N_("It's not a good fit"),
}
# What the member is told for each answer (translated when the reply is made: `_(...)`).
REPLIES = {
    Answer.YES: N_("That's lovely to hear. Thank you for being there for each other."),
    Answer.NOT_YET: N_(
        "That's okay: there's still time. A short hello in your buddy thread is a fine start."
    ),
    Answer.NOT_FIT: N_(
        "Thank you for telling me. I've quietly ended this pairing and closed its thread, and "
        "won't pair you two again; they won't be told why. You'll get a new buddy next round, "
        "or use **/buddy rematch** in the server for one now."
    ),
}
NOT_FIT_IN_TRIO = N_(
    "Thank you for telling me. I've taken you out of the group and its thread, and won't pair "
    "you with them again; they won't be told why. The other two carry on as a pair. You'll get "
    "a new buddy next round, or use **/buddy rematch** in the server for one now."
)


async def answer(
    db: Database,
    clock: Clock,
    group_id: int,
    user_id: int,
    choice: Answer,
    *,
    guild_id: int | None = None,
) -> str:
    """Record a buddy's answer. "Not a good fit" quietly unpairs and blocks the pair for the
        future; the other buddy hears only that the pairing ended. The reply is in the current
    language (the member's). `guild_id`: the server the
        button was pressed in (None in a DM: the pairing being the member's own binds it)."""
    now = clock.now()
    async with db.session() as session:
        # "Not a good fit" blocks: like every change of who can be paired, it waits for a
        # round being written (the programme's lock first, then the group's row, in the
        # same order as a round's start takes them).
        if choice is Answer.NOT_FIT and (found := await repo.get_group(session, group_id)):
            await hold_programme(session, found.guild_id)
        group = await repo.get_group(session, group_id, for_update=True)
        members = [] if group is None else await repo.group_members(session, group_id)
        mine = next((m for m in members if m.user_id == user_id), None)
        if group is None or mine is None or guild_id not in (None, group.guild_id):
            raise InvalidInput(_("I can't find that buddy pairing of yours any more."))
        if group.ended_at is not None or mine.left_at is not None:
            raise InvalidInput(_("That pairing has already ended, so there's nothing to answer."))
        mine.answer = str(choice)
        in_trio = sum(1 for m in members if m.left_at is None) > 2
        if choice is Answer.NOT_FIT:
            for other in (m.user_id for m in members if m.user_id != user_id):
                await repo.add_block(
                    session, group.guild_id, user_id, other, reason="not_fit", now=now
                )
            await leave_group(session, group.guild_id, user_id, now=now)
            await repo.update_member(session, group.guild_id, user_id, now=now, wants_rematch=True)
            if in_trio:
                return _(NOT_FIT_IN_TRIO)
    return _(REPLIES[choice])
