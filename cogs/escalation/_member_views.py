"""The member's side: choosing how they feel, adding words, and "I'm OK now"."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import discord

from bot.domain.escalation import CONTEXT_MAX_CHARS, TransitionRefused, Urgency
from bot.i18n import N_, _
from bot.services.escalation import render, requests
from bot.services.escalation.config import member_resources
from bot.services.escalation.info import EscalationConfig
from bot.services.escalation.requests import AlreadyOpen, Opened, Raised
from bot.ui.custom_ids import ID
from bot.ui.errors import KinfolkModal, ReportsErrors, explain, unwrap
from bot.ui.replies import REPLACE_MESSAGE, send_ephemeral
from bot.ui.views import view_of
from cogs.escalation._common import (
    REQUEST_ID,
    RequestButton,
    embed,
    kinfolk,
    log,
    resources_embed,
    say_in_thread,
)

URGENCY_STYLES = {
    Urgency.CHAT: discord.ButtonStyle.secondary,
    Urgency.STRUGGLING: discord.ButtonStyle.primary,
    Urgency.CRISIS: discord.ButtonStyle.danger,
}
# Discord allows 3 s for the first answer; saving gets most of it, answering the rest.
SAVE_BUDGET_SECONDS = 2.2
UNSAVED = N_(
    "I'm sorry: I couldn't save your request just now, so the moderators may not have been "
    "told. Please try **/talk** again in a moment, or message a moderator directly. If you "
    "need someone right now, these people are there for you:"
)
UNSAVED_WITH_ID = N_(
    "I'm sorry: I couldn't save your request just now, so the moderators may not have been "
    "told (error id `{error_id}`). Please try **/talk** again in a moment, or message a "
    "moderator directly. If you need someone right now, these people are there for you:"
)
# Without the resources (the member was shown them a moment ago).
UNSAVED_SHORT = N_(
    "I'm sorry: I couldn't save your request just now, so the moderators may not have been "
    "told. Please try **/talk** again in a moment, or message a moderator directly."
)
UNSAVED_SHORT_WITH_ID = N_(
    "I'm sorry: I couldn't save your request just now, so the moderators may not have been "
    "told (error id `{error_id}`). Please try **/talk** again in a moment, or message a "
    "moderator directly."
)
PICKER_TEXT = N_(
    "I'm glad you're reaching out. How are you feeling right now? (Only you can see this.)"
)


def picker_view() -> discord.ui.View:
    return view_of(*(StartButton(u) for u in (Urgency.CHAT, Urgency.STRUGGLING, Urgency.CRISIS)))


def member_request_view(request_id: int) -> discord.ui.View:
    return view_of(AddContextButton(request_id), CancelButton(request_id))


async def open_and_answer(
    interaction: discord.Interaction, urgency: Urgency, guild_id: int | None = None
) -> None:
    """Save the request first, then answer the member privately, within Discord's 3 s.

    `guild_id` names the server when the member asks from a DM (a check-in reminder)."""
    guild_id = guild_id or interaction.guild_id
    assert guild_id is not None
    bot = kinfolk(interaction)
    locale = str(interaction.locale.value)
    save = asyncio.create_task(
        requests.open_request(
            bot.db,
            bot.clock,
            guild_id=guild_id,
            member_id=interaction.user.id,
            urgency=urgency,
            locale=locale,
        )
    )
    # Wait for the save, but never past the budget. A slow save is never cancelled (a unit of
    # work cut off midway can leave SQLite's write lock held, and cancelling a hung
    # PostgreSQL connection itself takes seconds): the member is answered now, with the
    # crisis resources, and told in a follow-up once the save has finished either way.
    await asyncio.wait({save}, timeout=SAVE_BUDGET_SECONDS)
    if not save.done():
        await answer_slow(interaction, urgency, locale, guild_id)
        finishing = asyncio.create_task(
            _tell_when_saved(interaction, save, urgency, locale, guild_id)
        )
        _background.add(finishing)
        finishing.add_done_callback(_background.discard)
        return
    try:
        outcome = save.result()
    except Exception as error:
        await answer_unsaved(interaction, urgency, locale, error, guild_id)
        return
    if isinstance(outcome, Raised):
        bot.outbox.wake()
        await send_ephemeral(
            interaction,
            render.raised_text(outcome.request, outcome.config, pinged=outcome.pinged),
            embed=resources_embed(outcome.resources, urgent=urgency is Urgency.CRISIS),
            view=member_request_view(outcome.request.request_id),
        )
        return
    if isinstance(outcome, AlreadyOpen):
        await send_ephemeral(
            interaction,
            render.already_open_text(outcome.request),
            embed=resources_embed(outcome.resources),
            view=member_request_view(outcome.request.request_id),
        )
        return
    bot.outbox.wake()
    answer = embed(render.member_answer_embed(urgency, outcome.config, outcome.plan))
    help_now = resources_embed(outcome.resources, urgent=urgency is Urgency.CRISIS)
    embeds = [help_now, answer] if urgency is Urgency.CRISIS else [answer, help_now]
    await send_ephemeral(
        interaction, embeds=embeds, view=member_request_view(outcome.request.request_id)
    )


async def refuse_with_resources(interaction: discord.Interaction, text: str) -> None:
    """Refuse to open a request (e.g. from a DM, for a server the member has left), and still
    show where help is: the built-in resources need no server and no database."""
    help_now = member_resources(EscalationConfig(guild_id=0), str(interaction.locale.value))
    await send_ephemeral(
        interaction,
        f"{text}\n\n{_('If you need someone right now, these people are there for you:')}",
        embed=resources_embed(help_now, urgent=True),
    )


# Follow-ups of slow saves still running (a reference keeps each task alive).
_background: set[asyncio.Task[None]] = set()
SLOW = N_(
    "Saving your request is taking longer than it should. I'll keep trying, and I'll tell you "
    "here as soon as the moderators have been told. If you need someone right now, these "
    "people are there for you:"
)
SAVED_LATE = N_(
    "Your request is saved now and the moderators have been told. Someone will be with you "
    "as soon as they can."
)


async def answer_slow(
    interaction: discord.Interaction, urgency: Urgency, locale: str, guild_id: int
) -> None:
    resources = member_resources(EscalationConfig(guild_id=guild_id), locale)
    await send_ephemeral(
        interaction, _(SLOW), embed=resources_embed(resources, urgent=urgency is Urgency.CRISIS)
    )


async def _tell_when_saved(
    interaction: discord.Interaction,
    save: asyncio.Task[Any],
    urgency: Urgency,
    locale: str,
    guild_id: int,
) -> None:
    """The slow save finished: tell the member how it went (follow-ups work for 15 minutes)."""
    try:
        outcome = await asyncio.shield(save)
    except Exception as error:
        log.warning("a slow /talk save failed: %s", type(error).__name__)
        try:
            await answer_unsaved(interaction, urgency, locale, error, guild_id, resources=False)
        except discord.HTTPException:
            log.warning("could not tell the member their /talk request was not saved")
        return
    kinfolk(interaction).outbox.wake()
    try:
        if isinstance(outcome, AlreadyOpen):
            await send_ephemeral(
                interaction,
                render.already_open_text(outcome.request),
                view=member_request_view(outcome.request.request_id),
            )
        elif isinstance(outcome, Raised):
            await send_ephemeral(
                interaction,
                render.raised_text(outcome.request, outcome.config, pinged=outcome.pinged),
                view=member_request_view(outcome.request.request_id),
            )
        elif isinstance(outcome, Opened):
            await send_ephemeral(
                interaction, _(SAVED_LATE), view=member_request_view(outcome.request.request_id)
            )
    except discord.HTTPException:
        log.warning("could not tell the member their slow /talk request was saved")


async def answer_unsaved(
    interaction: discord.Interaction,
    urgency: Urgency,
    locale: str,
    error: BaseException,
    guild_id: int,
    *,
    resources: bool = True,
) -> None:
    """Saving failed: say so honestly, and still show where help is (the built-in resources
    need no database; left out when the member was shown them a moment ago)."""
    _message, error_id = explain(error)
    if error_id is not None:
        log.error("error %s opening a /talk request", error_id, exc_info=unwrap(error))
    if not resources:
        short = UNSAVED_SHORT_WITH_ID if error_id else UNSAVED_SHORT
        await send_ephemeral(interaction, _(short).format(error_id=error_id))
        return
    text = _(UNSAVED_WITH_ID if error_id else UNSAVED).format(error_id=error_id)
    help_now = member_resources(EscalationConfig(guild_id=guild_id), locale)
    await send_ephemeral(
        interaction, text, embed=resources_embed(help_now, urgent=urgency is Urgency.CRISIS)
    )


class StartButton(
    ReportsErrors,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"talk:start:(?P<urgency>chat|struggling|crisis)",
):
    """One tap to ask for help. Other features can show these buttons too."""

    def __init__(self, urgency: Urgency) -> None:
        super().__init__(
            discord.ui.Button(
                label=_(urgency.label),
                style=URGENCY_STYLES[urgency],
                custom_id=f"talk:start:{urgency}",
            )
        )
        self.urgency = urgency

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> StartButton:
        return cls(Urgency(match["urgency"]))

    async def run(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            await send_ephemeral(interaction, _("Please use this inside your server."))
            return
        message = interaction.message
        if message is not None and message.flags.ephemeral:
            # /talk's own picker: the answer takes its place, so no feeling stays clickable.
            interaction.extras[REPLACE_MESSAGE] = True
        await open_and_answer(interaction, self.urgency)


class AddContextButton(RequestButton, template=r"talk:context:" + REQUEST_ID):
    LABEL, STYLE, ACTION = N_("Add a few words"), discord.ButtonStyle.secondary, "context"

    async def run(self, interaction: discord.Interaction) -> None:
        try:
            await requests.member_request(
                kinfolk(interaction).db,
                self.request_id,
                interaction.user.id,
                guild_id=interaction.guild_id,
            )
        except TransitionRefused as refusal:
            await send_ephemeral(interaction, str(refusal))
            return
        await interaction.response.send_modal(ContextModal(self.request_id))


class CancelButton(RequestButton, template=r"talk:cancel:" + REQUEST_ID):
    LABEL, STYLE, ACTION = N_("I'm OK now"), discord.ButtonStyle.success, "cancel"

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        try:
            request = await requests.cancel(
                bot.db,
                bot.clock,
                self.request_id,
                interaction.user.id,
                guild_id=interaction.guild_id,
            )
        except TransitionRefused as refusal:
            await send_ephemeral(interaction, str(refusal))
            return
        await interaction.response.edit_message(
            content=_(
                "I've closed your request. I'm glad you're feeling OK. "
                "**/talk** is here whenever you need it."
            ),
            embeds=[],
            view=None,
        )
        bot.outbox.wake()  # the alert is updated through the outbox
        await say_in_thread(
            bot,
            request.guild_id,
            request.thread_id,
            lambda: _("The member has closed this request: they said they're OK now."),
            close=True,
        )


CONTEXT_FORM = re.compile(r"talk:context-modal:" + ID)
CONTEXT_FIELD = "talk-context"


class ContextModal(KinfolkModal):
    """The form itself. Its submission is handled by `submit_context`, from the raw interaction,
    so a form opened before a restart can still be sent after it (discord.py only remembers
    the forms it showed since it started). Its words are written when it is shown."""

    TITLE = N_("A few words for the team")
    words: discord.ui.TextInput[ContextModal] = discord.ui.TextInput(
        label="-",  # written in __init__, in the member's language
        custom_id=CONTEXT_FIELD,
        style=discord.TextStyle.paragraph,
        max_length=CONTEXT_MAX_CHARS,
    )

    def __init__(self, request_id: int) -> None:
        super().__init__(title=_(self.TITLE), custom_id=f"talk:context-modal:{request_id}")
        self.words.label = _("What would you like the team to know?")
        self.words.placeholder = _(
            "Only moderators will read this. Share as much or as little as you like."
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        return None  # answered by submit_context


def submitted_text(data: dict[str, Any], custom_id: str) -> str:
    """A text input's value from a modal submission (inside action rows or labels)."""
    stack = list(data.get("components", []))
    while stack:
        component = stack.pop()
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"])
        stack.extend(component.get("components", []))
        if "component" in component:
            stack.append(component["component"])
    return ""


async def submit_context(interaction: discord.Interaction, request_id: int) -> None:
    """The member sent the "few words" form: add them to their request."""
    bot = kinfolk(interaction)
    text = submitted_text(dict(interaction.data or {}), CONTEXT_FIELD)
    try:
        request = await requests.add_context(
            bot.db, bot.clock, request_id, interaction.user.id, text, guild_id=interaction.guild_id
        )
    except (TransitionRefused, ValueError) as refusal:
        await send_ephemeral(
            interaction, _("{refusal} Nothing was changed.").format(refusal=refusal)
        )
        return
    if request.claimed_by:
        thanks = _("Thank you. I've added that for the moderator with you to read.")
    else:
        thanks = _("Thank you. I've added that for the moderators to read.")
    await send_ephemeral(interaction, thanks)
    bot.outbox.wake()  # the alert is updated through the outbox
    await say_in_thread(
        bot,
        request.guild_id,
        request.thread_id,
        lambda: _("The member added more to their request:\n>>> {words}").format(words=text[:1900]),
    )
