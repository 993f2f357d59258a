"""The weekly moderator digest: how many members are quiet, how many were reached, how many
answered. Counts, not names — except, where the server chose it, a list of quiet members who
never opted in to DMs, so a moderator can decide whether to say hello."""

from __future__ import annotations

from datetime import date, timedelta

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import reachout as repo
from bot.i18n import _, ngettext, number
from bot.jobs.delivery import Delivery, NoFollowUp, Prepared, QueuedMessage, Skip
from bot.services.reachout.settings import queue_digest

LIST_LIMIT = 50


def render(counts: repo.DigestCounts, *, threshold_days: int, listed: bool) -> str:
    """The digest, in the current language (the outbox's `prepare`: the server's)."""
    lines = [
        _("📋 **Weekly reach-out digest**"),
        ngettext(
            "- Members quiet for {days}+ day: **{count}**",
            "- Members quiet for {days}+ days: **{count}**",
            threshold_days,
        ).format(days=threshold_days, count=number(counts.quiet)),
        _("- Reached by a DM this week: **{count}**").format(count=number(counts.reached)),
        _("- Whose buddy got a nudge this week: **{count}**").format(count=number(counts.nudged)),
        _("- Answered this week: **{count}**").format(count=number(counts.answered)),
    ]
    if listed:
        if counts.not_opted:
            shown = counts.not_opted[:LIST_LIMIT]
            names = " ".join(f"<@{user}>" for user in shown)
            if len(counts.not_opted) <= LIST_LIMIT:
                line = _("Quiet, and never opted in to DMs — maybe say hello? {members}")
            else:
                line = _(
                    "Quiet, and never opted in to DMs (the first {count}) — maybe say hello? "
                    "{members}"
                )
            lines.append(line.format(members=names, count=LIST_LIMIT))
        else:
            lines.append(_("No quiet members who haven't opted in to DMs."))
    return "\n".join(lines)


class DigestHandler(NoFollowUp):
    max_attempts: int | None = 5

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        guild_id = message.guild_id or 0
        now = self.clock.now()
        async with self.db.session() as session:
            settings = await repo.get_settings(session, guild_id)
            if settings is None or not settings.enabled or settings.digest_channel_id is None:
                return Skip("the digest was switched off")
            if settings.version != message.payload.get("version"):
                return Skip("the settings changed; a newer digest is queued")
            day = date.fromisoformat(message.payload["day"])
            await queue_digest(session, settings, after=now + timedelta(hours=1), now=now)
            counts = await repo.digest_counts(
                session,
                guild_id,
                cutoff=now - timedelta(days=settings.threshold_days),
                since=now - timedelta(days=7),
                list_limit=LIST_LIMIT + 1,
            )
        if now.date() - day > timedelta(days=2):
            return Skip(f"the digest of {day} is days late; the next one is queued")
        return Delivery(
            target_type="channel",
            target_id=settings.digest_channel_id,
            content=render(
                counts,
                threshold_days=settings.threshold_days,
                listed=settings.not_opted == "digest",
            ),
        )
