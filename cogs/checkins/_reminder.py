"""/reminder: a member's daily check-in reminder and their timezone."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import N_, _
from bot.services.checkins import reminders
from bot.services.checkins.reminders import STOPPED_DMS_CLOSED, ReminderInfo
from bot.ui.autocomplete import timezone_autocomplete
from bot.ui.feature import FeatureCog
from bot.ui.replies import send_ephemeral

DMS_CLOSED_TEXT = N_(
    "I stopped your reminders because I couldn't DM you: your direct messages from this "
    "server seem to be closed. Open them (Privacy Settings for this server) and use "
    "**/reminder set** again if you'd like them back."
)


def describe(info: ReminderInfo) -> str:
    """The member's reminder, in the current language (their interaction's)."""
    if info.time is None:
        if info.own_timezone:
            text = _(
                "You have no daily reminder. Days are counted in **{timezone}** (your timezone)."
            )
        else:
            text = _(
                "You have no daily reminder. Days are counted in **{timezone}** "
                "(the server's timezone)."
            )
        text = text.format(timezone=info.timezone)
        if info.stopped == STOPPED_DMS_CLOSED:
            text = _(DMS_CLOSED_TEXT) + "\n\n" + text
        return text
    if info.next_at is None:
        text = _(
            "I'll DM you a check-in reminder every day at **{time}** {timezone} time. "
            "If you've already checked in that day, I won't send it."
        )
    elif info.skipping_today:
        text = _(
            "I'll DM you a check-in reminder every day at **{time}** {timezone} time. "
            "You've already checked in today, so today's won't come; the next is {when}. "
            "If you've already checked in that day, I won't send it."
        )
    else:
        text = _(
            "I'll DM you a check-in reminder every day at **{time}** {timezone} time; "
            "the next one is {when}. If you've already checked in that day, I won't send it."
        )
    when = "" if info.next_at is None else f"<t:{int(info.next_at.timestamp())}:R>"
    text = text.format(time=info.time, timezone=info.timezone, when=when)
    if not info.own_timezone:
        text += " " + _(
            "({timezone} is the server's timezone: pick yours with /reminder timezone.)"
        ).format(timezone=info.timezone)
    return text


class Reminders(FeatureCog):
    reminder = app_commands.Group(
        name="reminder", description="Your daily check-in reminder (private)", guild_only=True
    )

    @reminder.command(name="set", description="A daily DM reminding you to check in")
    @app_commands.describe(
        time="Your local time, like 21:30 or 9pm",
        timezone="Your timezone, like Europe/Berlin: start typing a city",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    async def set_(
        self, interaction: discord.Interaction, time: str, timezone: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        info = await reminders.set_reminder(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, time, timezone
        )
        self.bot.outbox.wake()
        await send_ephemeral(interaction, _("Done. {reminder}").format(reminder=describe(info)))

    @reminder.command(name="off", description="Stop your daily reminder")
    async def off(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        was_on = await reminders.turn_off(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id
        )
        await send_ephemeral(
            interaction,
            _("Your reminder is off. **/reminder set** brings it back any time.")
            if was_on
            else _("You had no reminder on, so nothing changed."),
        )

    @reminder.command(name="show", description="When your reminder comes, and in which timezone")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        info = await reminders.show(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id
        )
        await send_ephemeral(interaction, describe(info))

    @reminder.command(name="timezone", description="Your timezone, for your days and reminder")
    @app_commands.describe(timezone="Like Europe/Berlin: start typing a city")
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    async def timezone(self, interaction: discord.Interaction, timezone: str) -> None:
        assert interaction.guild_id is not None
        info = await reminders.set_timezone(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, timezone
        )
        self.bot.outbox.wake()
        await send_ephemeral(
            interaction,
            _("Done: your days now follow **{timezone}**. {reminder}").format(
                timezone=info.timezone, reminder=describe(info)
            ),
        )
