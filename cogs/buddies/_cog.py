"""/buddy: join, leave, pause, status, block and rematch; and noticing members who leave."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import N_, _, number
from bot.services.buddies import membership, rounds
from bot.services.buddies.handlers import CHECKUP_VIEW, handlers
from bot.services.buddies.texts import FREQUENCIES
from bot.ui.autocomplete import timezone_autocomplete
from bot.ui.feature import FeatureCog, Handlers, Views
from bot.ui.reachout_ask import AskButton, maybe_ask
from bot.ui.replies import send_ephemeral
from cogs.buddies._views import DYNAMIC_ITEMS, checkup_view

BLOCKED = {
    None: N_("Done. You will never be paired with them, and they won't be told."),
    membership.BLOCKED_PAIR: N_(
        "Done. You will never be paired with them, and they won't be told. Your pairing with "
        "them this round has ended and its thread is closed; they hear only that the pairing "
        "ended, as for any pairing that ends. You'll be first in line next round."
    ),
    membership.BLOCKED_IN_TRIO: N_(
        "Done. You will never be paired with them, and they won't be told. You've left your "
        "group's thread for this round; the other two carry on as a pair. You'll be first in "
        "line next round."
    ),
}


class Buddies(FeatureCog):
    buddy = app_commands.Group(
        name="buddy", description="Your check-in buddy (private)", guild_only=True
    )

    dynamic_items = (*DYNAMIC_ITEMS, AskButton)  # the reach-out question after /buddy join

    def outbox_handlers(self) -> Handlers:
        return handlers(self.bot.db, self.bot.clock)

    def sender_views(self) -> Views:
        return {CHECKUP_VIEW: lambda args: checkup_view(int(args["group_id"]))}

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Only with MEMBERS_INTENT: Discord sends this to bots with the members intent."""
        await membership.member_left_server(
            self.bot.db, self.bot.clock, payload.guild_id, payload.user.id
        )
        self.bot.outbox.wake()

    @buddy.command(name="join", description="Get a check-in buddy each round")
    @app_commands.describe(
        timezone="Your timezone, so your buddy is likely awake when you are",
        frequency="How often you'd like to talk",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    @app_commands.choices(
        frequency=[app_commands.Choice(name=text, value=key) for key, text in FREQUENCIES.items()]
    )
    async def join(
        self,
        interaction: discord.Interaction,
        timezone: str | None = None,
        frequency: app_commands.Choice[str] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        await membership.join(
            self.bot.db,
            self.bot.clock,
            interaction.guild_id,
            interaction.user.id,
            roles=[role.id for role in getattr(interaction.user, "roles", [])],
            timezone=timezone,
            frequency=frequency.value if frequency else None,
        )
        await send_ephemeral(
            interaction,
            _(
                "You're in! You'll be paired when the next round starts, and I'll open a "
                "private thread for you and your buddy. **/buddy status** shows where things "
                "are."
            ),
        )
        await maybe_ask(interaction, interaction.guild_id)

    @buddy.command(name="leave", description="Stop taking part in buddy rounds")
    async def leave(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        left = await membership.leave(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id
        )
        self.bot.outbox.wake()
        await send_ephemeral(
            interaction,
            _(
                "You've left the buddy programme. Thank you for taking part; **/buddy join** "
                "any time to come back."
            )
            if left
            else _("You weren't in the buddy programme, so nothing changed."),
        )

    @buddy.command(name="pause", description="Skip rounds for a while")
    @app_commands.describe(days="For how many days (1 to 90)")
    async def pause(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 90]
    ) -> None:
        assert interaction.guild_id is not None
        until = await membership.pause(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, days
        )
        await send_ephemeral(
            interaction,
            _(
                "Paused until {date}: you won't be paired in rounds that start before then. "
                "Take the time you need."
            ).format(date=f"<t:{int(until.timestamp())}:D>"),
        )

    @buddy.command(name="status", description="Your current buddy and round")
    async def status(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        state = await membership.status(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id
        )
        if not state.taking_part and not state.buddies:
            await send_ephemeral(interaction, _(membership.NOT_TAKING_PART))
            return
        lines = []
        if state.buddies:
            names = ", ".join(f"<@{b}>" for b in state.buddies)
            lines.append(_("Your buddy this round: {names}.").format(names=names))
            if state.thread_id:
                lines.append(_("Your thread: {thread}.").format(thread=f"<#{state.thread_id}>"))
            if state.round_ends_at:
                lines.append(
                    _("The round ends {time}.").format(
                        time=f"<t:{int(state.round_ends_at.timestamp())}:R>"
                    )
                )
        else:
            lines.append(_("You don't have a buddy right now; you'll be paired next round."))
        if state.paused_until:
            lines.append(
                _("Paused until {date}.").format(
                    date=f"<t:{int(state.paused_until.timestamp())}:D>"
                )
            )
        lines.append(_("Rounds you've taken part in: {count}.").format(count=number(state.rounds)))
        await send_ephemeral(interaction, "\n".join(lines))

    @buddy.command(name="block", description="Never be paired with this member (private)")
    @app_commands.describe(member="They will never be told")
    async def block(self, interaction: discord.Interaction, member: discord.User) -> None:
        assert interaction.guild_id is not None
        ended = await membership.block(
            self.bot.db,
            self.bot.clock,
            interaction.guild_id,
            interaction.user.id,
            member.id,
            other_is_bot=member.bot,
        )
        self.bot.outbox.wake()
        await send_ephemeral(interaction, _(BLOCKED[ended]))

    @buddy.command(name="rematch", description="Ask for a new buddy now")
    async def rematch(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        found = await rounds.rematch(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id
        )
        self.bot.outbox.wake()
        if found:
            text = _(
                "I've paired you with {buddy}. I'm opening a private thread for you two now."
            ).format(buddy=f"<@{found[0]}>")
        else:
            text = _(
                "Nobody is free for a new pairing right now, so you'll be first in line when "
                "the next round starts."
            )
        await send_ephemeral(interaction, text)
