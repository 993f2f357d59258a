"""The buttons and the form of check-ins. Every button is a `DynamicItem` whose custom id
carries what it needs (server, check-in), so it keeps working after a restart, in the
server and in a reminder DM alike."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import discord

from bot import i18n
from bot.domain.checkins import NOTE_MAX_CHARS, InvalidInput, Mood, streak_text
from bot.domain.escalation import Urgency
from bot.i18n import N_, _, ngettext, number
from bot.services.checkins import records
from bot.services.checkins.records import ConsentNeeded, Recorded
from bot.services.circles import milestones
from bot.services.reachout import activity
from bot.ui.bound import BoundToServer
from bot.ui.context import kinfolk
from bot.ui.custom_ids import GUILD, ID, YES_NO
from bot.ui.errors import KinfolkModal, ReportsErrors
from bot.ui.reachout_ask import maybe_ask
from bot.ui.replies import NO_PINGS, send_ephemeral
from bot.ui.views import view_of
from cogs.escalation._member_views import open_and_answer, refuse_with_resources, submitted_text

CHECKIN = ID

# Each shown as `_(TEXT)`, in the member's language.
CONSENT_TEXT = N_(
    "Before your first check-in, one question.\n\n"
    "Kinfolk would keep your check-ins in this server — your mood, and any note you choose "
    "to add — so it can show you your streak and how your mood moves over time. Notes are "
    "encrypted. Only you can see your check-ins: moderators and other members cannot, "
    "unless you choose to share your mood (never your note).\n\n"
    "You can download or delete them whenever you like, with the buttons under **/mood**.\n\n"
    "**Is it OK for Kinfolk to keep your check-ins?**"
)
DECLINED_TEXT = N_(
    "That's completely fine: nothing was saved. If you change your mind, **/checkin** will "
    "ask again. And if you need someone, **/talk** is always there."
)
PICKER_TEXT = N_("How are you today? Tap the one that fits best. (Only you can see this.)")
CARE_TITLE = N_("I'm sorry today is hard")
CARE_TEXT = N_(
    "Thank you for telling me. You don't have to carry this alone. If you'd like to talk to "
    "someone on this server, tap below and a moderator will be told. Nothing is sent to "
    "anyone unless you choose it."
)
NOTE_SAVED = N_(
    "Your note is saved, encrypted. Nobody else can read it; it's in your download from "
    "**/mood** whenever you want it."
)


def mood_picker(guild_id: int) -> discord.ui.View:
    return view_of(*(MoodButton(guild_id, mood) for mood in Mood))


def consent_view(guild_id: int) -> discord.ui.View:
    return view_of(ConsentButton(guild_id, True), ConsentButton(guild_id, False))


async def start_checkin(interaction: discord.Interaction, guild_id: int) -> None:
    """Ask for consent the first time; otherwise show the mood buttons."""
    if await records.has_consented(kinfolk(interaction).db, guild_id, interaction.user.id):
        await send_ephemeral(interaction, _(PICKER_TEXT), view=mood_picker(guild_id))
    else:
        await send_ephemeral(interaction, _(CONSENT_TEXT), view=consent_view(guild_id))


class _Button(ReportsErrors, discord.ui.DynamicItem[discord.ui.Button], template=r"checkin:_"):
    def __init__(self, custom_id: str, label: str, **kwargs: Any) -> None:
        super().__init__(discord.ui.Button(custom_id=custom_id, label=label, **kwargs))


class StartButton(BoundToServer, _Button, template=r"checkin:start:" + GUILD):
    """Under the daily prompt: starts a private check-in for whoever taps it."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            f"checkin:start:{guild_id}",
            _("Check in"),
            style=discord.ButtonStyle.primary,
            emoji="📝",
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> StartButton:
        return cls(int(match["guild"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await start_checkin(interaction, self.guild_id)


class ConsentButton(BoundToServer, _Button, template=r"checkin:consent:" + GUILD + ":" + YES_NO):
    def __init__(self, guild_id: int, yes: bool) -> None:
        super().__init__(
            f"checkin:consent:{guild_id}:{'yes' if yes else 'no'}",
            _("Yes, keep my check-ins") if yes else _("No thanks"),
            style=discord.ButtonStyle.success if yes else discord.ButtonStyle.secondary,
        )
        self.guild_id, self.yes = guild_id, yes

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ConsentButton:
        return cls(int(match["guild"]), match["answer"] == "yes")

    async def run(self, interaction: discord.Interaction) -> None:
        if not self.yes:
            await interaction.response.edit_message(content=_(DECLINED_TEXT), view=None)
            return
        bot = kinfolk(interaction)
        await records.give_consent(bot.db, bot.clock, self.guild_id, interaction.user.id)
        await interaction.response.edit_message(
            content=_("Thank you. {question}").format(question=_(PICKER_TEXT)),
            view=mood_picker(self.guild_id),
        )


class MoodButton(BoundToServer, _Button, template=r"checkin:mood:" + GUILD + r":(?P<mood>[1-5])"):
    def __init__(self, guild_id: int, mood: Mood) -> None:
        super().__init__(
            f"checkin:mood:{guild_id}:{int(mood)}",
            _(mood.label),
            emoji=mood.emoji,
            style=discord.ButtonStyle.secondary,
        )
        self.guild_id, self.mood = guild_id, mood

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> MoodButton:
        return cls(int(match["guild"]), Mood(int(match["mood"])))

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        try:
            saved = await records.record(
                bot.db,
                bot.clock,
                self.guild_id,
                interaction.user.id,
                self.mood,
                message_id=interaction.message.id if interaction.message else None,
            )
        except ConsentNeeded:
            await interaction.response.edit_message(
                content=_(CONSENT_TEXT), view=consent_view(self.guild_id)
            )
            return
        await interaction.response.edit_message(
            content=saved_text(saved),
            embed=care_embed() if saved.care else None,
            view=after_view(self.guild_id, saved),
        )
        if saved.again is not None:
            return  # the same check-in as the first tap: nothing new to count or celebrate
        await bot.participation.seen(self.guild_id, interaction.user.id, activity.CHECKIN)
        before = saved.news.days if saved.news.again_today else saved.news.days - 1
        if await milestones.after_checkin(
            bot.db, bot.clock, self.guild_id, interaction.user.id, before, saved.news.days
        ):
            bot.outbox.wake()
        await maybe_ask(interaction, self.guild_id)


def saved_text(saved: Recorded) -> str:
    mood = f"{saved.mood.emoji} **{_(saved.mood.label)}**"
    if saved.again == "same":
        return _("Already saved: {mood}. One tap is enough; this is still one check-in.").format(
            mood=mood
        )
    if saved.again == "changed":
        return _("Changed to {mood}. It's still one check-in, now with this mood.").format(
            mood=mood
        )
    return _("Saved: {mood}. {streak}").format(
        mood=mood, streak=streak_text(saved.news, care=saved.care)
    )


def care_embed() -> discord.Embed:
    return discord.Embed(
        title=_(CARE_TITLE), description=_(CARE_TEXT), colour=discord.Colour.blue()
    )


def after_view(guild_id: int, saved: Recorded) -> discord.ui.View:
    items: list[discord.ui.Item[Any]] = [NoteButton(saved.checkin_id)]
    if saved.share_channel_id is not None:
        items.append(ShareButton(saved.checkin_id))
    if saved.care:
        items.insert(0, TalkButton(guild_id))
    return view_of(*items)


class TalkButton(BoundToServer, _Button, template=r"checkin:talk:" + GUILD):
    """Offered after a very low mood: opens an "I need to talk" request, if the member wants."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            f"checkin:talk:{guild_id}",
            _("I'd like to talk to someone"),
            style=discord.ButtonStyle.primary,
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> TalkButton:
        return cls(int(match["guild"]))

    async def refuse(self, interaction: discord.Interaction, problem: str, **extra: Any) -> None:
        await refuse_with_resources(interaction, problem)

    async def run(self, interaction: discord.Interaction) -> None:
        await open_and_answer(interaction, Urgency.STRUGGLING, self.guild_id)


class NoteButton(_Button, template=r"checkin:note:" + CHECKIN):
    def __init__(self, checkin_id: int) -> None:
        super().__init__(f"checkin:note:{checkin_id}", _("Add a private note"), emoji="✏️")
        self.checkin_id = checkin_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> NoteButton:
        return cls(int(match["id"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(NoteModal(self.checkin_id))


NOTE_FORM = re.compile(r"checkin:note-form:" + CHECKIN)
NOTE_FIELD = "checkin-note"


class NoteModal(KinfolkModal):
    """Submissions are handled from the raw interaction (`submit_note`), so a form opened
    before a restart can still be sent after it. Its words are given when it is built, in
    the member's language (the class's are read at import)."""

    TITLE = N_("A private note")
    note: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
        label="Anything you'd like to remember about today?",
        custom_id=NOTE_FIELD,
        style=discord.TextStyle.paragraph,
        max_length=NOTE_MAX_CHARS,
    )

    def __init__(self, checkin_id: int) -> None:
        super().__init__(title=_(self.TITLE), custom_id=f"checkin:note-form:{checkin_id}")
        self.note.label = _("Anything you'd like to remember about today?")
        self.note.placeholder = _("Only you will ever see this. It's encrypted when saved.")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        return None  # answered by submit_note


async def submit_note(interaction: discord.Interaction, checkin_id: int) -> None:
    text = submitted_text(dict(interaction.data or {}), NOTE_FIELD)
    await records.add_note(kinfolk(interaction).db, checkin_id, interaction.user.id, text)
    await send_ephemeral(interaction, _(NOTE_SAVED))


class ShareButton(_Button, template=r"checkin:share:" + CHECKIN):
    def __init__(self, checkin_id: int) -> None:
        super().__init__(
            f"checkin:share:{checkin_id}", _("Share my mood (not my note)"), emoji="💬"
        )
        self.checkin_id = checkin_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ShareButton:
        return cls(int(match["id"]))

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        share = await records.start_share(bot.db, bot.clock, self.checkin_id, interaction.user.id)
        channel = bot.get_partial_messageable(share.channel_id, guild_id=share.guild_id)
        # A post in the server's channel: in the server's language, not the member's.
        with i18n.speaking(share.language):
            post = _("{member} checked in: {emoji} **{mood}**").format(
                member=interaction.user.mention, emoji=share.mood.emoji, mood=_(share.mood.label)
            )
        try:
            await channel.send(post, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            await records.undo_share(bot.db, self.checkin_id)
            raise InvalidInput(
                _(
                    "I couldn't post in the check-in channel just now (a moderator may need to "
                    "check my permissions there). Your check-in is saved; nothing was shared."
                )
            ) from None
        await send_ephemeral(
            interaction,
            _("Shared in {channel}. Your note, if any, stays private.").format(
                channel=f"<#{share.channel_id}>"
            ),
        )


class ExportButton(BoundToServer, _Button, template=r"checkin:export:" + GUILD):
    def __init__(self, guild_id: int) -> None:
        super().__init__(f"checkin:export:{guild_id}", _("Download my check-ins"), emoji="📥")
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ExportButton:
        return cls(int(match["guild"]))

    async def run(self, interaction: discord.Interaction) -> None:
        data = await records.export(kinfolk(interaction).db, self.guild_id, interaction.user.id)
        raw = json.dumps(data, indent=2, ensure_ascii=False).encode()
        await send_ephemeral(
            interaction,
            _(
                "Here is everything check-ins keep about you in this server, notes included. "
                "Only you can see this file."
            ),
            file=discord.File(io.BytesIO(raw), filename="kinfolk-checkins.json"),
        )


class ForgetButton(
    BoundToServer, _Button, template=r"checkin:forget:" + GUILD + r"(?P<sure>:sure)?"
):
    def __init__(self, guild_id: int, sure: bool = False) -> None:
        super().__init__(
            f"checkin:forget:{guild_id}{':sure' if sure else ''}",
            _("Yes, delete them all") if sure else _("Delete my check-ins"),
            emoji="🗑️",
            style=discord.ButtonStyle.danger,
        )
        self.guild_id, self.sure = guild_id, sure

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ForgetButton:
        return cls(int(match["guild"]), bool(match["sure"]))

    async def run(self, interaction: discord.Interaction) -> None:
        if not self.sure:
            await send_ephemeral(
                interaction,
                _(
                    "This erases every check-in and note you've made in this server, withdraws "
                    "your consent and stops your reminder. It can't be undone. Are you sure?"
                ),
                view=view_of(ForgetButton(self.guild_id, sure=True)),
            )
            return
        bot = kinfolk(interaction)
        erased = await records.forget(bot.db, bot.clock, self.guild_id, interaction.user.id)
        await interaction.response.edit_message(
            content=ngettext(
                "Done: I erased {count} check-in and their notes, and stopped your "
                "reminder. **/checkin** will ask for your consent again if you come back.",
                "Done: I erased {count} check-ins and their notes, and stopped your "
                "reminder. **/checkin** will ask for your consent again if you come back.",
                erased,
            ).format(count=number(erased)),
            view=None,
        )


DYNAMIC_ITEMS = (
    StartButton,
    ConsentButton,
    MoodButton,
    TalkButton,
    NoteButton,
    ShareButton,
    ExportButton,
    ForgetButton,
)
