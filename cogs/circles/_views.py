"""The circle's private answer (picture, people, gaps) and its controls, the offer controls,
and the buttons under a thinking-of-you note. Every control is a `DynamicItem` whose custom
id carries what it needs, so each keeps working after a restart."""

from __future__ import annotations

import io
import re
from typing import Any, ClassVar, Self

import discord

from bot import i18n
from bot.domain.circles import NAME_MAX_CHARS, Kind
from bot.i18n import N_, _
from bot.services import languages
from bot.services.circles import circle, milestones, notes
from bot.services.circles.circle import Circle, Entry
from bot.services.circles.picture import render_png
from bot.ui import pictures
from bot.ui.bound import BoundToServer
from bot.ui.context import kinfolk
from bot.ui.custom_ids import GUILD, named, one_of
from bot.ui.errors import KinfolkModal, ReportsErrors
from bot.ui.replies import NO_PINGS, send_ephemeral
from bot.ui.views import view_of
from cogs.escalation._common import require_moderator
from cogs.escalation._member_views import submitted_text

KIND = one_of("kind", *(kind.value for kind in Kind))
NOTE = named("note")
NAME_FORM = re.compile(r"circle:name-form:" + GUILD + ":" + KIND)
NAME_FIELD = "circle-name"
PRIVATE = N_("Only you can see your circle. Nobody listed in it is ever told.")


def _name(interaction: discord.Interaction, entry: Entry) -> str:
    """A display name for the picture: the member's current name if Discord told us, else
    the name saved when they were added."""
    person = entry.person
    if person.user_id is not None and interaction.guild is not None:
        member = interaction.guild.get_member(person.user_id)
        if member is not None:
            return member.display_name
    return person.name or _("a member")


def _describe(circle: Circle) -> str:
    lines = []
    for kind in Kind:
        people = [e.person.display() for e in circle.entries if e.person.kind is kind]
        if people:
            line = _("{emoji} **{kind}** ({meaning}): {names}").format(
                emoji=kind.emoji,
                kind=kind.label,
                meaning=kind.meaning,
                names=", ".join(discord.utils.escape_markdown(p) for p in people),
            )
        else:
            line = _("{emoji} **{kind}** ({meaning}): nobody yet").format(
                emoji=kind.emoji, kind=kind.label, meaning=kind.meaning
            )
        lines.append(line)
    if circle.suggestions:
        lines += ["", _("**Ideas for the gaps**")]
        lines += [f"{kind.emoji} {text}" for kind, text in circle.suggestions]
    elif circle.entries:
        lines += ["", _("Every kind of support has someone. That's a strong circle. 💛")]
    lines += ["", _(PRIVATE)]
    return "\n".join(lines)


async def circle_answer(interaction: discord.Interaction, guild_id: int) -> dict[str, Any]:
    """The keyword arguments of the private /circle answer, for a new message or an edit."""
    bot = kinfolk(interaction)
    current = await circle.view(bot.db, guild_id, interaction.user.id)
    names = {
        kind: [_name(interaction, e) for e in current.entries if e.person.kind is kind]
        for kind in Kind
    }
    # Drawn in a worker process, which is told the member's language.
    png = await pictures.draw(render_png, names, i18n.current())
    embed = discord.Embed(
        title=_("Your support circle"), description=_describe(current), colour=0xF4D35E
    )
    embed.set_image(url="attachment://circle.png")
    return {
        "embed": embed,
        "file": discord.File(io.BytesIO(png), filename="circle.png"),
        "view": circle_view(guild_id, current),
    }


def circle_view(guild_id: int, current: Circle) -> discord.ui.View:
    items: list[discord.ui.Item[Any]] = [AddSelect(guild_id)]
    if current.entries:
        items.append(RemoveSelect(guild_id, current.entries))
    items += [
        MilestonesButton(guild_id, True),
        MilestonesButton(guild_id, False),
        NotesButton(guild_id, True),
        NotesButton(guild_id, False),
    ]
    return view_of(*items)


async def show_circle(interaction: discord.Interaction, guild_id: int, *, edit: bool) -> None:
    kwargs = await circle_answer(interaction, guild_id)
    if edit:
        file = kwargs.pop("file")
        await interaction.response.edit_message(
            content=None, attachments=[file], allowed_mentions=NO_PINGS, **kwargs
        )
    else:
        await send_ephemeral(interaction, **kwargs)


class AddSelect(
    BoundToServer, discord.ui.DynamicItem[discord.ui.Select], template=r"circle:add:" + GUILD
):
    def __init__(self, guild_id: int) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"circle:add:{guild_id}",
                placeholder=_("Add someone to your circle…"),
                options=[
                    discord.SelectOption(
                        label=_("{kind}: {meaning}").format(kind=kind.label, meaning=kind.meaning),
                        value=kind.value,
                        emoji=kind.emoji,
                    )
                    for kind in Kind
                ],
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> AddSelect:
        return cls(int(match["guild"]))

    async def run(self, interaction: discord.Interaction) -> None:
        kind = Kind(self.item.values[0])
        view = view_of(PickMember(self.guild_id, kind), NameButton(self.guild_id, kind))
        await send_ephemeral(interaction, _who_gives(kind), view=view)


def _who_gives(kind: Kind) -> str:
    """The question for adding someone to one kind (a whole sentence for each kind)."""
    if kind is Kind.EMOTIONAL:
        return _(
            "Who gives you **emotional** support (someone who listens)? Pick a member of this "
            "server, or type a name (like “my sister” or “my GP”)."
        )
    if kind is Kind.PRACTICAL:
        return _(
            "Who gives you **practical** support (help with tasks, meals, lifts)? Pick a "
            "member of this server, or type a name (like “my sister” or “my GP”)."
        )
    if kind is Kind.INFORMATIONAL:
        return _(
            "Who gives you **informational** support (advice from someone who has been "
            "there)? Pick a member of this server, or type a name (like “my sister” or "
            "“my GP”)."
        )
    return _(
        "Who gives you **companionship** support (shared time, belonging)? Pick a member of "
        "this server, or type a name (like “my sister” or “my GP”)."
    )


class PickMember(
    BoundToServer,
    discord.ui.DynamicItem[discord.ui.UserSelect],
    template=r"circle:pick:" + GUILD + ":" + KIND,
):
    def __init__(self, guild_id: int, kind: Kind) -> None:
        super().__init__(
            discord.ui.UserSelect(
                custom_id=f"circle:pick:{guild_id}:{kind.value}",
                placeholder=_("Pick a member…"),
            )
        )
        self.guild_id, self.kind = guild_id, kind

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> PickMember:
        return cls(int(match["guild"]), Kind(match["kind"]))

    async def run(self, interaction: discord.Interaction) -> None:
        [picked] = self.item.values
        if picked.bot:
            await send_ephemeral(
                interaction, _("That's a bot: pick a person. Nothing was changed.")
            )
            return
        bot = kinfolk(interaction)
        await circle.add(
            bot.db,
            bot.clock,
            self.guild_id,
            interaction.user.id,
            self.kind,
            member_id=picked.id,
            name=getattr(picked, "display_name", None) or picked.name,
        )
        await show_circle(interaction, self.guild_id, edit=True)


class NameButton(
    BoundToServer,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"circle:name:" + GUILD + ":" + KIND,
):
    def __init__(self, guild_id: int, kind: Kind) -> None:
        super().__init__(
            discord.ui.Button(
                custom_id=f"circle:name:{guild_id}:{kind.value}",
                label=_("Type a name instead"),
                style=discord.ButtonStyle.secondary,
            )
        )
        self.guild_id, self.kind = guild_id, kind

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> NameButton:
        return cls(int(match["guild"]), Kind(match["kind"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(NameModal(self.guild_id, self.kind))


class NameModal(KinfolkModal):
    TITLE = N_("Add someone to your circle")
    """Submissions are handled from the raw interaction (`submit_name`), so a form opened
    before a restart can still be sent after it. Its words are given when it is opened, in
    the member's language."""

    def __init__(self, guild_id: int, kind: Kind) -> None:
        super().__init__(
            title=_(self.TITLE),
            custom_id=f"circle:name-form:{guild_id}:{kind.value}",
        )
        self.name: discord.ui.TextInput[NameModal] = discord.ui.TextInput(
            label=_("Their name, as you think of them"),
            custom_id=NAME_FIELD,
            max_length=NAME_MAX_CHARS,
            placeholder=_("e.g. my sister, Sam from work, my therapist"),
        )
        self.professional: discord.ui.TextInput[NameModal] = discord.ui.TextInput(
            label=_("A professional (therapist, GP…)? yes or no"),
            custom_id="circle-professional",
            max_length=3,
            required=False,
            placeholder=_("no"),
        )
        self.add_item(self.name)
        self.add_item(self.professional)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        return None  # answered by submit_name


async def submit_name(interaction: discord.Interaction, guild_id: int, kind: Kind) -> None:
    data = dict(interaction.data or {})
    # "yes" in English, or in the language the form was asked in (the member's).
    answer = submitted_text(data, "circle-professional").strip().lower()
    professional = answer in ("y", "yes", _("yes").lower())
    bot = kinfolk(interaction)
    await circle.add(
        bot.db,
        bot.clock,
        guild_id,
        interaction.user.id,
        kind,
        name=submitted_text(data, NAME_FIELD),
        professional=professional,
    )
    await send_ephemeral(interaction, **(await circle_answer(interaction, guild_id)))


class RemoveSelect(
    BoundToServer, discord.ui.DynamicItem[discord.ui.Select], template=r"circle:remove:" + GUILD
):
    def __init__(self, guild_id: int, entries: tuple[Entry, ...] = ()) -> None:
        options = [
            discord.SelectOption(
                label=_("{name} · {kind}").format(
                    name=(e.person.name or _("a member"))[:80], kind=e.person.kind.label
                ),
                value=str(e.id),
            )
            for e in entries[:25]
        ] or [discord.SelectOption(label=_("nobody"), value="0")]
        super().__init__(
            discord.ui.Select(
                custom_id=f"circle:remove:{guild_id}",
                placeholder=_("Remove someone…"),
                options=options,
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> RemoveSelect:
        return cls(int(match["guild"]))

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        for value in self.item.values:
            await circle.remove(bot.db, self.guild_id, interaction.user.id, int(value))
        await show_circle(interaction, self.guild_id, edit=True)


class Toggle:
    """A button that switches one of the member's own settings in a server on or off: its
    custom id is `{prefix}:{server}:on` or `…:off`. Subclasses name the two labels and the
    two answers (marked with N_, translated when shown), and `switch` the setting."""

    prefix: ClassVar[str]
    labels: ClassVar[tuple[str, str]]  # (on, off)
    emoji: ClassVar[str]  # shown on the "on" button
    button_row: ClassVar[int]  # (not `row`: that is DynamicItem's, the rendered row)
    done: ClassVar[tuple[str, str]]  # what the member is told: (on, off)

    def __init__(self, guild_id: int, on: bool) -> None:
        super().__init__(  # type: ignore[call-arg]  # DynamicItem's, after this in the MRO
            discord.ui.Button(
                custom_id=f"{self.prefix}:{guild_id}:{'on' if on else 'off'}",
                label=_(self.labels[0] if on else self.labels[1]),
                style=discord.ButtonStyle.secondary,
                emoji=self.emoji if on else None,
                row=self.button_row,
            )
        )
        self.guild_id, self.on = guild_id, on

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> Self:
        return cls(int(match["guild"]), match["on"] == "on")

    async def switch(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError

    async def run(self, interaction: discord.Interaction) -> None:
        await self.switch(interaction)
        await send_ephemeral(interaction, _(self.done[0] if self.on else self.done[1]))


ON_OFF = one_of("on", "on", "off")


class MilestonesButton(
    Toggle,
    BoundToServer,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"circle:milestones:" + GUILD + ":" + ON_OFF,
):
    prefix, emoji, button_row = "circle:milestones", "🎉", 3
    labels = (N_("Celebrate my milestones"), N_("Don't celebrate my milestones"))
    done = (
        N_(
            "Done: your milestones (a check-in streak, a buddy round completed, a year here) "
            "will be celebrated in the server's milestone channel."
        ),
        N_("Done: your milestones won't be celebrated publicly."),
    )

    async def switch(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        joined = getattr(interaction.user, "joined_at", None)
        await milestones.set_opt_in(
            bot.db,
            bot.clock,
            self.guild_id,
            interaction.user.id,
            self.on,
            joined_on=joined.date() if joined else None,
        )


class NotesButton(
    Toggle,
    BoundToServer,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"circle:notes:" + GUILD + ":" + ON_OFF,
):
    prefix, emoji, button_row = "circle:notes", "💌", 4
    labels = (N_("Receive thinking-of-you notes"), N_("No thinking-of-you notes"))
    done = (
        N_("Done: members can send you thinking-of-you notes."),
        N_("Done: you won't receive thinking-of-you notes here. Senders are told kindly."),
    )

    async def switch(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        await notes.set_notes_off(
            bot.db, bot.clock, self.guild_id, interaction.user.id, not self.on
        )


def note_view(note_id: int, guild_id: int) -> discord.ui.View:
    return view_of(ReportNoteButton(note_id), NotesOffFromNote(guild_id))


class ByNote:
    """A button about one thinking-of-you note: its custom id is `{prefix}:{note id}`."""

    prefix: ClassVar[str]
    label: ClassVar[str]  # marked with N_, translated when the button is made
    emoji: ClassVar[str]

    def __init__(self, note_id: int) -> None:
        super().__init__(  # type: ignore[call-arg]  # DynamicItem's, after this in the MRO
            discord.ui.Button(
                custom_id=f"{self.prefix}:{note_id}",
                label=_(self.label),
                style=discord.ButtonStyle.secondary,
                emoji=self.emoji,
            )
        )
        self.note_id = note_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> Self:
        return cls(int(match["note"]))


class ReportNoteButton(
    ByNote,
    ReportsErrors,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"circle:report:" + NOTE,
):
    prefix, label, emoji = "circle:report", N_("Report to moderators"), "🚩"

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        reported = await notes.report(bot.db, bot.clock, self.note_id, interaction.user.id)
        bot.outbox.wake()
        await send_ephemeral(
            interaction,
            _("Thank you for telling us. The moderators have it now, and the sender is not told.")
            if reported
            else _("This note was already reported. The moderators have it."),
        )


def report_view(note_id: int) -> discord.ui.View:
    return view_of(CloseReportButton(note_id))


class CloseReportButton(
    ByNote,
    ReportsErrors,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"circle:report-close:" + NOTE,
):
    """Under a report: a moderator of the note's server (or, for a report sent to the
    owner's DMs, the owner) closes it."""

    prefix, label, emoji = "circle:report-close", N_("Close report"), "✅"

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        guild_id = await notes.report_server(bot.db, self.note_id)
        if guild_id is None or interaction.guild_id not in (None, guild_id):
            await send_ephemeral(
                interaction, _("This report is already closed. Nothing was changed.")
            )
            return
        if interaction.guild_id is None:  # the owner's DMs
            guild = bot.get_guild(guild_id) or await bot.fetch_guild(guild_id)
            if guild.owner_id != interaction.user.id:
                await send_ephemeral(interaction, _("Only the server's owner can close this."))
                return
        else:
            await require_moderator(interaction)
        closed = await notes.close_report(
            bot.db, bot.clock, self.note_id, guild_id=guild_id, moderator_id=interaction.user.id
        )
        if closed is None:
            await send_ephemeral(
                interaction, _("This report is already closed. Nothing was changed.")
            )
            return
        # The report is a post in the alert channel (or the owner's DMs), written in the
        # server's language: so is its edit, whatever the language of who closed it.
        async with bot.db.lookup() as session:
            language = await languages.of_server(session, guild_id)
        with i18n.speaking(language):
            content = _("✅ Report closed by {moderator}. Thank you for looking into it.").format(
                moderator=f"<@{interaction.user.id}>"
            )
        await interaction.response.edit_message(
            content=content, view=None, allowed_mentions=NO_PINGS
        )


class NotesOffFromNote(
    BoundToServer,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"circle:notes-off:" + GUILD,
):
    def __init__(self, guild_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                custom_id=f"circle:notes-off:{guild_id}",
                label=_("No more of these"),
                style=discord.ButtonStyle.secondary,
                emoji="🔕",
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> NotesOffFromNote:
        return cls(int(match["guild"]))

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        await notes.set_notes_off(bot.db, bot.clock, self.guild_id, interaction.user.id, True)
        await send_ephemeral(
            interaction,
            _(
                "Done: no more thinking-of-you notes from this server. The buttons under "
                "**/circle** there turn them back on."
            ),
        )


DYNAMIC_ITEMS = (
    AddSelect,
    PickMember,
    NameButton,
    RemoveSelect,
    MilestonesButton,
    NotesButton,
    ReportNoteButton,
    CloseReportButton,
    NotesOffFromNote,
)
