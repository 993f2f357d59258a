"""The outbox kinds of check-ins."""

from __future__ import annotations

from bot.clock import Clock
from bot.db.engine import Database
from bot.jobs.delivery import KindHandler
from bot.services.checkins.prompt import KIND_PROMPT, PromptHandler
from bot.services.checkins.reminders import KIND_REMINDER, ReminderHandler


def handlers(db: Database, clock: Clock) -> dict[str, KindHandler]:
    return {KIND_PROMPT: PromptHandler(db, clock), KIND_REMINDER: ReminderHandler(db, clock)}
