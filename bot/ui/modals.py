"""One route from a submitted form to the feature that asked for it.

Kinfolk's forms (modals) are answered by custom id, like its buttons, so a form opened
before a restart is still answered after it. Each feature declares its forms' patterns
(`FeatureCog.modal_routes`); the bot's one `on_interaction` hands a submitted form to the
handler whose pattern matches, and a handler that fails gets the same kind answer as a
command (`bot.ui.errors.report`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

import discord

from bot.ui import language
from bot.ui.errors import report

ModalHandler = Callable[[discord.Interaction, re.Match[str]], Awaitable[None]]


class ModalRoutes:
    def __init__(self) -> None:
        self._routes: dict[re.Pattern[str], ModalHandler] = {}

    def add(self, routes: Mapping[re.Pattern[str], ModalHandler]) -> None:
        for pattern in routes:
            if pattern in self._routes:
                raise ValueError(f"two features answer the form {pattern.pattern!r}")
        self._routes.update(routes)

    def remove(self, routes: Mapping[re.Pattern[str], ModalHandler]) -> None:
        for pattern in routes:
            self._routes.pop(pattern, None)

    @property
    def patterns(self) -> list[re.Pattern[str]]:
        return list(self._routes)

    async def dispatch(self, interaction: discord.Interaction) -> bool:
        """Answer a submitted form whose custom id a feature declared; False if none did."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return False
        language.enter(interaction)
        custom_id = str(dict(interaction.data or {}).get("custom_id", ""))
        for pattern, handler in self._routes.items():
            match = pattern.fullmatch(custom_id)
            if match is not None:
                try:
                    await handler(interaction, match)
                except Exception as error:
                    await report(interaction, error)
                return True
        return False
