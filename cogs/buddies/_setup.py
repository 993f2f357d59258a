"""/setup buddies and /setup buddies-round (Manage Server, enforced by the /setup group)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.domain.words import plural
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
    lines = [
        f"**Round {plan.number} preview** (seed {plan.seed}): "
        f"{plural(plan.eligible, 'member')} taking part → {plural(len(plan.groups), 'group')}"
        + (f", {plural(trios, 'trio')}" if trios else "")
        + ".",
    ]
    if plan.repeats:
        met = "pair has" if plan.repeats == 1 else "pairs have"
        lines.append(f"{plan.repeats} {met} met recently: no other arrangement avoided it.")
    if plan.unplaced:
        lines.append(f"{plural(len(plan.unplaced), 'member')} can't be placed this round.")
    for group in plan.groups[:PREVIEW_LINES]:
        lines.append("• " + " & ".join(f"<@{m}>" for m in group))
    if len(plan.groups) > PREVIEW_LINES:
        lines.append(f"…and {len(plan.groups) - PREVIEW_LINES} more.")
    return "\n".join(lines)


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
            f"Done. Buddy threads open under {channel.mention}. Rounds last "
            f"{config.round_days} days and start on {schedule.WEEKDAYS[config.weekday]}s at "
            f"{config.start_time} {config.timezone} time; the first starts "
            f"<t:{int(config.next_round_at.timestamp())}:F>.",
        ]
        if required_role:
            lines.append(f"Only members with {required_role.mention} can join.")
        if lacking := missing(channel, interaction.guild.me, THREAD_NEEDS):
            lines.append(f"⚠️ In {channel.mention} I need: {', '.join(lacking)}.")
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
