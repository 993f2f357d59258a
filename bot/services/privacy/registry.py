"""The one registry of every table column that holds a member's id.

`/privacy show`, `/privacy export`, `/privacy delete`, the erasure of members who left and the
schema-coverage test all read this list, so a new table cannot be forgotten: the test reflects
the live schema and fails if a column holding a Discord id is in neither `REGISTRY` nor
`NOT_MEMBER_IDS`.

What `/privacy delete` does with a member's id in each column:
- "delete": the row goes;
- "tombstone": the row stays, with the id replaced by the member's tombstone, a pseudonym
  (a negative number) that is the same for one member in one server, so what must stay for
  others' safety still works (a block someone made against them) and stays accountable (an
  audit row of a moderator's action);
- "unlink": the id is cleared and the row stays (someone else's private circle naming them);
- "escalation": the special rule of "I need to talk" requests (see
  `bot.services.escalation.requests.erase_member`);
- "notes": the special rule of thinking-of-you notes (see
  `bot.services.circles.notes.erase_member`): a reported note stays as evidence, and a
  recent one stays without its words so that the limits still hold;
- "outbox": messages to the member, or about them (`OutboxMessage.member_id`), go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.db.models import (
    ActivityDay,
    AuditEntry,
    Base,
    BuddyBlock,
    BuddyGroupMember,
    BuddyMember,
    BuddyRound,
    Checkin,
    CircleMember,
    CirclePerson,
    MemberActivity,
    MemberDeparture,
    MemberLanguage,
    MemberProfile,
    ModeratorDuty,
    OutboxMessage,
    SupportOffer,
    SupportRequest,
    ThinkingNote,
)
from bot.i18n import N_

Action = Literal["delete", "tombstone", "unlink", "escalation", "notes", "outbox"]


@dataclass(frozen=True)
class MemberColumn:
    model: type[Base]
    column: str
    on_delete: Action
    # What it is, in plain words, for /privacy show (None: not shown as the member's own);
    # marked for translation, and translated where it is shown.
    what: str | None = None

    @property
    def table(self) -> str:
        return str(self.model.__tablename__)


REGISTRY: tuple[MemberColumn, ...] = (
    MemberColumn(MemberProfile, "user_id", "delete", N_("your settings (timezone, reminder)")),
    MemberColumn(MemberLanguage, "user_id", "delete", N_("the language Kinfolk writes to you in")),
    MemberColumn(Checkin, "user_id", "delete", N_("check-ins (mood, and notes, encrypted)")),
    MemberColumn(BuddyMember, "user_id", "delete", N_("your buddy-programme membership")),
    MemberColumn(BuddyBlock, "user_id", "delete", N_("people you asked not to be paired with")),
    MemberColumn(BuddyBlock, "blocked_id", "tombstone"),
    MemberColumn(BuddyGroupMember, "user_id", "delete", N_("buddy pairings you were part of")),
    MemberColumn(BuddyRound, "started_by", "tombstone"),
    MemberColumn(SupportRequest, "member_id", "escalation", N_("your “I need to talk” requests")),
    MemberColumn(SupportRequest, "claimed_by", "tombstone"),
    MemberColumn(SupportRequest, "closed_by", "tombstone"),
    MemberColumn(ModeratorDuty, "moderator_id", "delete", N_("your moderator on-duty status")),
    MemberColumn(AuditEntry, "actor_id", "tombstone"),
    MemberColumn(AuditEntry, "other_member_id", "tombstone"),
    MemberColumn(MemberActivity, "user_id", "delete", N_("when you were last active, reach-out")),
    MemberColumn(ActivityDay, "user_id", "delete", N_("days you were active (counts only)")),
    MemberColumn(CirclePerson, "user_id", "delete", N_("people in your support circle")),
    MemberColumn(CirclePerson, "person_user_id", "unlink"),
    MemberColumn(SupportOffer, "user_id", "delete", N_("the support you offer")),
    MemberColumn(CircleMember, "user_id", "delete", N_("your circle choices (notes, milestones)")),
    MemberColumn(ThinkingNote, "sender_id", "notes", N_("thinking-of-you notes you sent")),
    MemberColumn(ThinkingNote, "recipient_id", "notes", N_("thinking-of-you notes you received")),
    MemberColumn(MemberDeparture, "user_id", "delete"),
    MemberColumn(OutboxMessage, "target_id", "outbox", N_("messages Kinfolk is about to send you")),
    MemberColumn(OutboxMessage, "member_id", "outbox"),
)

# Columns holding Discord ids that are not members': why each is not in the registry.
NOT_MEMBER_IDS: dict[tuple[str, str], str] = {
    ("audit_log", "subject_id"): "the id of a request or round (subject_type says which)",
    ("buddy_rounds", "seed"): "a number that makes a round reproducible",
    ("buddy_groups", "round_id"): "a round's id",
    ("buddy_group_members", "group_id"): "a group's id",
    ("member_activity", "dm_channel_id"): "a channel id; erased with the member's row",
}
# Id columns that are never a member's: servers, channels, messages, roles, threads, keys.
NON_MEMBER_SUFFIXES = ("guild_id", "channel_id", "message_id", "role_id", "thread_id")
