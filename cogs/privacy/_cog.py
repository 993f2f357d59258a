"""/privacy show, export and delete; /audit recent; /setup privacy; and noticing members who
leave (erased after the server's grace period) or come back."""

from __future__ import annotations

import io
import json
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import N_, _, ngettext, number
from bot.services.privacy import audit_view, member_data, retention
from bot.services.privacy.member_data import KEPT_WHY, Erased
from bot.ui.bound import BoundToServer
from bot.ui.context import kinfolk
from bot.ui.custom_ids import GUILD
from bot.ui.errors import ReportsErrors
from bot.ui.feature import FeatureCog, Handlers, setup_command
from bot.ui.permissions import require_manage_server
from bot.ui.replies import send_ephemeral
from bot.ui.views import view_of

EXPORT_TEXT, EXPORT_JSON = "kinfolk-my-data.txt", "kinfolk-my-data.json"
DELETE_WARNING = N_(
    "**This erases everything Kinfolk holds about you in this server**: check-ins and notes, "
    "buddy history and the blocks you made, reach-out choices and activity, your support "
    "circle and offers, notes you sent and received, and your consents. A request to talk that "
    "is still open is closed. It cannot be undone. "
    "Download a copy first with **/privacy export** if you'd like one.\n\n"
    "A few things stay, without your id, for other people's safety; you'll see exactly which."
)


def erased_text(erased: Erased) -> str:
    words = member_data.erased_words(erased.deleted)
    if words:
        lines = [_("Done. In this server, I erased:")] + [f"• {line}" for line in words]
    elif erased.kept:
        lines = [_("Done. Nothing about you in this server still carries your id.")]
    else:
        lines = [_("Done. There was nothing about you to erase in this server.")]
    if erased.kept:
        lines += ["", _("**What was kept, and why:**")]
        lines += [f"• {_kept_why(table)} ({number(n)})" for table, n in erased.kept.items()]
    else:
        lines.append(_("Nothing about you was kept."))
    lines.append(
        "\n"
        + _(
            "Messages already posted in Discord (e.g. in a buddy thread) are Discord's: delete "
            "them there, or ask a moderator."
        )
    )
    return "\n".join(lines)


def _kept_why(table: str) -> str:
    why = KEPT_WHY.get(table)
    return _(why) if why is not None else table


def actor_text(actor_id: int) -> str:
    if actor_id > 0:
        return f"<@{actor_id}>"
    if actor_id == member_data.MEMBER_REQUEST:
        return _("a member (their own privacy request)")
    return _("(erased member)")


class ConfirmDelete(
    BoundToServer,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"privacy:delete:" + GUILD,
):
    def __init__(self, guild_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                custom_id=f"privacy:delete:{guild_id}",
                label=_("Yes, erase everything about me here"),
                style=discord.ButtonStyle.danger,
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ConfirmDelete:
        return cls(int(match["guild"]))

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        erased = await member_data.delete_member(
            bot.db, bot.clock, self.guild_id, interaction.user.id
        )
        # The language this very press noted is not written back after the erasure.
        bot.languages.forget(self.guild_id, interaction.user.id)
        await interaction.response.edit_message(content=erased_text(erased), view=None)


class CancelDelete(
    ReportsErrors,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"privacy:keep",
):
    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                custom_id="privacy:keep",
                label=_("No, keep it"),
                style=discord.ButtonStyle.secondary,
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> CancelDelete:
        return cls()

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(
            content=_(
                "Nothing was erased: everything is as it was. **/privacy delete** is here "
                "whenever you want it."
            ),
            view=None,
        )


class Privacy(FeatureCog):
    privacy = app_commands.Group(
        name="privacy", description="What Kinfolk keeps about you here (private)", guild_only=True
    )
    audit = app_commands.Group(
        name="audit",
        description="Moderators' actions in this server (Manage Server)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    dynamic_items = (ConfirmDelete, CancelDelete)

    def outbox_handlers(self) -> Handlers:
        return retention.handlers(self.bot.db, self.bot.clock)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Make sure the pseudonym secret is stored encrypted, and today's retention purge is
        queued (once a day: the key is unique)."""
        if await retention.at_start(self.bot.db, self.bot.clock):
            self.bot.outbox.wake()

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Only with MEMBERS_INTENT: erase after the grace period unless they come back."""
        await retention.member_left(self.bot.db, self.bot.clock, payload.guild_id, payload.user.id)

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        await retention.member_returned(self.bot.db, member.guild.id, member.id)

    @privacy.command(name="show", description="What Kinfolk keeps about you in this server")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        found = await member_data.counts(self.bot.db, interaction.guild_id, interaction.user.id)
        config = await retention.get_config(self.bot.db, interaction.guild_id)
        if found:
            lines = [_("**What Kinfolk keeps about you in this server:**")]
            lines += [f"• {_(what)}: {number(n)}" for what, n in found]
        else:
            lines = [_("Kinfolk keeps nothing about you in this server.")]
        lines += [
            "",
            ngettext(
                "Notes and what you wrote when asking to talk are cleared after {count} day. "
                "Free text you write is encrypted. Activity is counts and times only, never "
                "what you wrote.",
                "Notes and what you wrote when asking to talk are cleared after {count} days. "
                "Free text you write is encrypted. Activity is counts and times only, never "
                "what you wrote.",
                config.retention_days,
            ).format(count=number(config.retention_days)),
            _("**/privacy export** gives you a copy; **/privacy delete** erases it."),
        ]
        await send_ephemeral(interaction, "\n".join(lines))

    @privacy.command(name="export", description="Download everything Kinfolk keeps about you")
    async def export(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await member_data.export_member(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id
        )
        # Built in memory, never written to disk: nothing of it is left behind on the host.
        text = data.as_text().encode()
        raw = json.dumps(data.as_json(), indent=2, ensure_ascii=False).encode()
        await interaction.followup.send(
            _(
                "Here's everything Kinfolk keeps about you in this server, notes decrypted, in "
                "**{text_file}** to read (times in your timezone), and the same in "
                "**{json_file}** for other programs. Only you can see this."
            ).format(text_file=EXPORT_TEXT, json_file=EXPORT_JSON),
            files=[
                discord.File(io.BytesIO(text), filename=EXPORT_TEXT),
                discord.File(io.BytesIO(raw), filename=EXPORT_JSON),
            ],
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @privacy.command(name="delete", description="Erase everything Kinfolk keeps about you here")
    async def delete(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        view = view_of(ConfirmDelete(interaction.guild_id), CancelDelete())
        await send_ephemeral(interaction, _(DELETE_WARNING), view=view)

    @audit.command(name="recent", description="The latest moderator actions here")
    async def recent(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        require_manage_server(interaction)
        lines = await audit_view.recent(self.bot.db, interaction.guild_id)
        if not lines:
            await send_ephemeral(interaction, _("No moderator actions recorded yet."))
            return
        text = "\n".join(
            f"{discord.utils.format_dt(line.at, 'f')} · "
            + actor_text(line.actor_id)
            + f" · `{line.action}`"
            + (f" · {line.subject}" if line.subject else "")
            for line in lines
        )
        heading = ngettext(
            "**Latest {count} action**", "**Latest {count} actions**", len(lines)
        ).format(count=number(len(lines)))
        await send_ephemeral(interaction, f"{heading}\n{text}")

    @setup_command("privacy", "How long notes are kept; when members who left are erased")
    @app_commands.describe(
        retention_days="Days to keep notes and what members wrote when asking to talk (90)",
        leave_grace_days="Days after a member leaves before their data is erased (30)",
    )
    async def setup_privacy(
        self,
        interaction: discord.Interaction,
        retention_days: app_commands.Range[int, 7, 3650] | None = None,
        leave_grace_days: app_commands.Range[int, 0, 365] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        config = await retention.configure(
            self.bot.db,
            self.bot.clock,
            interaction.guild_id,
            actor_id=interaction.user.id,
            retention_days=retention_days,
            leave_grace_days=leave_grace_days,
        )
        kept = ngettext(
            "Notes and what members wrote when asking to talk are kept **{count} day**.",
            "Notes and what members wrote when asking to talk are kept **{count} days**.",
            config.retention_days,
        ).format(count=number(config.retention_days))
        erased = ngettext(
            "Members who leave are erased **{count} day** after they leave (this needs "
            "MEMBERS_INTENT, or Discord doesn't tell Kinfolk who left).",
            "Members who leave are erased **{count} days** after they leave (this needs "
            "MEMBERS_INTENT, or Discord doesn't tell Kinfolk who left).",
            config.leave_grace_days,
        ).format(count=number(config.leave_grace_days))
        await send_ephemeral(interaction, f"{kept} {erased}")
