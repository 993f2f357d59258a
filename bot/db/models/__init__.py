"""SQLAlchemy models, one module per area. Every table is also created by an Alembic
migration; a test checks that the migrations produce exactly this schema."""

from bot.db.models.audit import AuditEntry
from bot.db.models.base import Base
from bot.db.models.buddies import (
    BuddyBlock,
    BuddyGroup,
    BuddyGroupMember,
    BuddyMember,
    BuddyRound,
    BuddySettings,
)
from bot.db.models.checkins import Checkin, CheckinSettings, MemberProfile
from bot.db.models.circles import (
    CircleMember,
    CirclePerson,
    CircleSettings,
    SupportOffer,
    ThinkingNote,
)
from bot.db.models.core import (
    AppState,
    DeploymentSecret,
    GuildSettings,
    MemberLanguage,
    OutboxMessage,
)
from bot.db.models.escalation import EscalationSettings, ModeratorDuty, SupportRequest
from bot.db.models.privacy import MemberDeparture, PrivacySettings
from bot.db.models.reachout import ActivityDay, MemberActivity, ReachoutSettings

__all__ = [
    "ActivityDay",
    "AppState",
    "AuditEntry",
    "Base",
    "BuddyBlock",
    "BuddyGroup",
    "BuddyGroupMember",
    "BuddyMember",
    "BuddyRound",
    "BuddySettings",
    "Checkin",
    "CheckinSettings",
    "CircleMember",
    "CirclePerson",
    "CircleSettings",
    "DeploymentSecret",
    "EscalationSettings",
    "GuildSettings",
    "MemberActivity",
    "MemberDeparture",
    "MemberLanguage",
    "MemberProfile",
    "ModeratorDuty",
    "OutboxMessage",
    "PrivacySettings",
    "ReachoutSettings",
    "SupportOffer",
    "SupportRequest",
    "ThinkingNote",
]
