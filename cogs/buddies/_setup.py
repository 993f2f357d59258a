"""/setup buddies and /setup buddies-round (Manage Server, enforced by the /setup group)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import _, ngettext, number
from bot.services.buddies import rounds, schedule
from bot.services.buddies.rounds import RoundPlan
from bot.ui.feature import FeatureCog, setup_command
from bot.ui.permissions import missing
from bot.ui.replies import finish_deferred, send_ephemeral
from bot.ui.views import view_of
from cogs.buddies._views import StartRoundButton

THREAD_NEEDS = ("view_channel", "create_private_threads", "send_messages_in_threads")
PREVIEW_LINES = 15


def describe_plan(plan: RoundPlan) -> str:
    trios = sum(1 for g in plan.groups if len(g) == 3)
    members = ngettext("{count} member", "{count} members", plan.eligible).format(
        count=number(plan.eligible)
    )
    groups = ngettext("{count} group", "{count} groups", len(plan.groups)).format(
        count=number(len(plan.groups))
    )
    if trios:
        summary = _(
            "**Round {number} preview** (seed {seed}): {members} taking part → {groups}, {trios}."
        ).format(
            number=plan.number,
            seed=plan.seed,
            members=members,
            groups=groups,
            trios=ngettext("{count} trio", "{count} trios", trios).format(count=number(trios)),
        )
    else:
        summary = _(
            "**Round {number} preview** (seed {seed}): {members} taking part → {groups}."
        ).format(number=plan.number, seed=plan.seed, members=members, groups=groups)
    lines = [summary]
    if plan.repeats:
        lines.append(
            ngettext(
                "{count} pair has met recently: no other arrangement avoided it.",
                "{count} pairs have met recently: no other arrangement avoided it.",
                plan.repeats,
            ).format(count=number(plan.repeats))
        )
    if plan.unplaced:
        lines.append(
            ngettext(
                "{count} member can't be placed this round.",
                "{count} members can't be placed this round.",
                len(plan.unplaced),
            ).format(count=number(len(plan.unplaced)))
        )
    for group in plan.groups[:PREVIEW_LINES]:
        lines.append("• " + " & ".join(f"<@{m}>" for m in group))
    if len(plan.groups) > PREVIEW_LINES:
        more = len(plan.groups) - PREVIEW_LINES
        lines.append(
            ngettext("…and {count} more.", "…and {count} more.", more).format(count=number(more))
        )
    return "\n".join(lines)


def _schedule(weekday: int, days: int) -> str:
    """The answer's first line, a whole sentence for each weekday (a translation may say
    "on Mondays" in its own way)."""
    if weekday == 0:
        return ngettext(
            "Done. Buddy threads open under {channel}. Rounds last {count} day and start on "
            "Mondays at {time} {timezone} time; the first starts {first}.",
            "Done. Buddy threads open under {channel}. Rounds last {count} days and start on "
            "Mondays at {time} {timezone} time; the first starts {first}.",
            days,
        )
    if weekday == 1:
        return ngettext(
            "Done. Buddy threads open under {channel}. Rounds last {count} day and start on "
            "Tuesdays at {time} {timezone} time; the first starts {first}.",
            "Done. Buddy threads open under {channel}. Rounds last {count} days and start on "
            "Tuesdays at {time} {timezone} time; the first starts {first}.",
            days,
        )
    if weekday == 2:
        return ngettext(
            "Done. Buddy threads open under {channel}. Rounds last {count} day and start on "
            "Wednesdays at {time} {timezone} time; the first starts {first}.",
            "Done. Buddy threads open under {channel}. Rounds last {count} days and start on "
            "Wednesdays at {time} {timezone} time; the first starts {first}.",
            days,
        )
    if weekday == 3:
        return ngettext(
            "Done. Buddy threads open under {channel}. Rounds last {count} day and start on "
            "Thursdays at {time} {timezone} time; the first starts {first}.",
            "Done. Buddy threads open under {channel}. Rounds last {count} days and start on "
            "Thursdays at {time} {timezone} time; the first starts {first}.",
            days,
        )
    if weekday == 4:
        return ngettext(
            "Done. Buddy threads open under {channel}. Rounds last {count} day and start on "
            "Fridays at {time} {timezone} time; the first starts {first}.",
            "Done. Buddy threads open under {channel}. Rounds last {count} days and start on "
            "Fridays at {time} {timezone} time; the first starts {first}.",
            days,
        )
    if weekday == 5:
        return ngettext(
            "Done. Buddy threads open under {channel}. Rounds last {count} day and start on "
            "Saturdays at {time} {timezone} time; the first starts {first}.",
            "Done. Buddy threads open under {channel}. Rounds last {count} days and start on "
            "Saturdays at {time} {timezone} time; the first starts {first}.",
            days,
        )
    return ngettext(
        "Done. Buddy threads open under {channel}. Rounds last {count} day and start on "
        "Sundays at {time} {timezone} time; the first starts {first}.",
        "Done. Buddy threads open under {channel}. Rounds last {count} days and start on "
        "Sundays at {time} {timezone} time; the first starts {first}.",
        days,
    )


class BuddySetup(FeatureCog):
    @setup_command(
        "buddies",
        "Buddy rounds: where intros go, how long rounds last, when they start",
    )
    @app_commands.describe(
        channel="Private buddy threads are opened under this channel",
        round_days="How long a round lasts (default 14 days)",
        weekday="The day rounds start (default Monday)",
        start_time="The time rounds start, server timezone (default 10:00)",
        required_role="Optional: only members with this role may join",
    )
    @app_commands.choices(
        weekday=[app_commands.Choice(name=d, value=i) for i, d in enumerate(schedule.WEEKDAYS)]
    )
    async def buddies(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        round_days: app_commands.Range[int, 1, 90] = 14,
        weekday: app_commands.Choice[int] | None = None,
        start_time: str = "10:00",
        required_role: discord.Role | None = None,
    ) -> None:
        assert interaction.guild is not None
        config = await schedule.configure(
            self.bot.db,
            self.bot.clock,
            interaction.guild.id,
            channel_id=channel.id,
            round_days=round_days,
            weekday=weekday.value if weekday else 0,
            start_time=start_time,
            required_role_id=required_role.id if required_role else None,
            actor_id=interaction.user.id,
        )
        self.bot.outbox.wake()
        lines = [
            _schedule(config.weekday, config.round_days).format(
                channel=channel.mention,
                count=number(config.round_days),
                time=config.start_time,
                timezone=config.timezone,
                first=f"<t:{int(config.next_round_at.timestamp())}:F>",
            )
        ]
        if required_role:
            lines.append(_("Only members with {role} can join.").format(role=required_role.mention))
        if lacking := missing(channel, interaction.guild.me, THREAD_NEEDS):
            lines.append(
                _("⚠️ In {channel} I need: {permissions}.").format(
                    channel=channel.mention, permissions=", ".join(lacking)
                )
            )
        await send_ephemeral(interaction, "\n".join(lines))

    @setup_command("buddies-round", "Preview a buddy round now, then start it if it looks right")
    @app_commands.describe(seed="Optional: reproduce an earlier preview")
    async def buddies_round(
        self,
        interaction: discord.Interaction,
        seed: app_commands.Range[int, 0, 999_999] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        chosen = (
            seed
            if seed is not None
            else rounds.seed_for(
                interaction.guild_id, f"preview:{self.bot.clock.now().isoformat()}"
            )
        )
        await interaction.response.defer(ephemeral=True, thinking=True)  # large rounds: a moment
        plan = await rounds.preview(self.bot.db, self.bot.clock, interaction.guild_id, chosen)
        view = view_of(StartRoundButton(chosen, plan.number)) if plan.eligible >= 2 else None
        await finish_deferred(interaction, describe_plan(plan), view=view)
