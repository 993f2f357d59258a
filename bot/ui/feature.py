"""A feature declares, once, what it adds to the bot; `FeatureCog` adds it when the cog
loads and takes exactly that away when it unloads.

    class Checkins(FeatureCog):
        dynamic_items = (MoodButton, NoteButton, ...)

        def outbox_handlers(self): return handlers(self.bot.db, self.bot.clock)
        def sender_views(self): return {MOODS_VIEW: lambda args: mood_picker(...)}
        def modal_routes(self): return {NOTE_FORM: self.submit_note}

        @setup_command("checkins", "The check-in channel, and an optional daily prompt there")
        async def checkins(self, interaction, channel: discord.TextChannel) -> None: ...

What each one is:
- `dynamic_items`: the `DynamicItem` classes of the buttons and selects the feature sends,
  its own and those of another feature's flow it starts (the reach-out question under a
  check-in); a press is matched to them by custom id (no view is kept: `bot.ui.views`). An
  item two features declare stays registered while either is loaded.
- `outbox_handlers()`: outbox kind → handler, for the messages the feature queues.
- `sender_views()`: view name → builder, for the buttons under its outbox messages.
- `modal_routes()`: custom-id pattern → handler, for the forms it opens (`bot.ui.modals`).
- `setup_commands()`: its `/setup <feature>` subcommands (`bot.ui.setup_group`): by
  default the methods marked `@setup_command(name, description)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs.delivery import KindHandler
from bot.ui import setup_group
from bot.ui.modals import ModalHandler
from bot.ui.outbox_sender import ViewBuilder

if TYPE_CHECKING:
    from bot.client import KinfolkBot

# What a feature declares, by the shape of each declaration.
Handlers = Mapping[str, KindHandler]
Views = Mapping[str, ViewBuilder]
Routes = Mapping[re.Pattern[str], ModalHandler]
SetupCommands = Sequence[app_commands.Command[Any, ..., Any]]


SETUP_COMMAND = "__kinfolk_setup_command__"
F = TypeVar("F", bound=Callable[..., Any])


def setup_command(name: str, description: str) -> Callable[[F], F]:
    """Mark a `FeatureCog` method as its `/setup <name>` subcommand (Manage Server only)."""

    def mark(method: F) -> F:
        setattr(method, SETUP_COMMAND, (name, description))
        return method

    return mark


class FeatureCog(commands.Cog):
    dynamic_items: ClassVar[Sequence[type[discord.ui.DynamicItem[Any]]]] = ()

    def __init__(self, bot: KinfolkBot) -> None:
        self.bot = bot
        self._handlers: dict[str, KindHandler] = {}
        self._views: dict[str, ViewBuilder] = {}
        self._routes: dict[re.Pattern[str], ModalHandler] = {}
        self._setup: tuple[app_commands.Command[Any, ..., Any], ...] = ()

    def outbox_handlers(self) -> Handlers:
        return {}

    def sender_views(self) -> Views:
        return {}

    def modal_routes(self) -> Routes:
        return {}

    def setup_commands(self) -> SetupCommands:
        marked = (
            (getattr(method, SETUP_COMMAND), method)
            for method in (getattr(self, name) for name in dir(type(self)))
            if callable(method) and hasattr(method, SETUP_COMMAND)
        )
        return tuple(
            app_commands.Command(name=name, description=description, callback=method)
            for (name, description), method in marked
        )

    async def cog_load(self) -> None:
        bot = self.bot
        self._handlers = dict(self.outbox_handlers())
        self._views = dict(self.sender_views())
        self._routes = dict(self.modal_routes())
        self._setup = tuple(self.setup_commands())
        # Refused before anything is added: a failed load leaves nothing behind.
        taken = set(self._handlers) & set(bot.outbox.handlers)
        taken |= set(self._views) & set(bot.sender.views)
        taken |= {p.pattern for p in set(self._routes) & set(bot.modals.patterns)}
        group = bot.tree.get_command(setup_group.NAME)
        if isinstance(group, app_commands.Group):
            taken |= {c.name for c in self._setup} & {c.name for c in group.commands}
        if taken:
            raise ValueError(f"{type(self).__name__}: another feature has {sorted(taken)}")
        bot.add_dynamic_items(*self.dynamic_items)
        bot.outbox.handlers.update(self._handlers)
        bot.sender.views.update(self._views)
        bot.modals.add(self._routes)
        setup_group.attach(bot.tree, *self._setup)

    async def cog_unload(self) -> None:
        bot = self.bot
        bot.remove_dynamic_items(*self._not_declared_by_others())
        for kind, handler in self._handlers.items():
            if bot.outbox.handlers.get(kind) is handler:
                del bot.outbox.handlers[kind]
        for name, builder in self._views.items():
            if bot.sender.views.get(name) is builder:
                del bot.sender.views[name]
        bot.modals.remove(self._routes)
        setup_group.detach(bot.tree, *self._setup)

    def _not_declared_by_others(self) -> list[type[discord.ui.DynamicItem[Any]]]:
        """Its items that no other loaded feature declares (by custom-id pattern: a feature
        loaded again has new classes for the same buttons)."""
        others = {
            item.__discord_ui_compiled_template__.pattern
            for cog in self.bot.cogs.values()
            if isinstance(cog, FeatureCog) and cog is not self
            for item in cog.dynamic_items
        }
        return [
            item
            for item in self.dynamic_items
            if item.__discord_ui_compiled_template__.pattern not in others
        ]
