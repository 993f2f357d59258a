"""Slash commands in the member's language: discord.py's `app_commands.Translator`, reading
the same gettext catalogs as everything else (`bot.i18n`).

Descriptions and choices are looked up by their English text. Names are looked up with the
context "command name" (commands and groups) or "option name". Kinfolk's catalogs keep
command names English, as members type them and every message calls them (`/talk`), and
translate option names, the labels of a command's fields. A name that breaks Discord's rules
(lowercase letters, digits, `-` and `_`, at most 32) is not sent.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot import i18n

COMMAND_NAME = "command name"
OPTION_NAME = "option name"
MAX_NAME = 32
MAX_DESCRIPTION = 100
_NAMES = {
    Where.command_name: COMMAND_NAME,
    Where.group_name: COMMAND_NAME,
    Where.parameter_name: OPTION_NAME,
}


def valid_name(name: str) -> bool:
    """Discord's rule for command and option names (`^[-_\\p{L}\\p{N}…]{1,32}$`, lowercase)."""
    return (
        0 < len(name) <= MAX_NAME
        and name == name.lower()
        and all(ch.isalnum() or ch in "-_" for ch in name)
    )


def translated(code: str, text: str, where: Where) -> str | None:
    """`text` of a command in catalog `code`, or None to leave Discord's English."""
    if code == i18n.ENGLISH:
        return None
    if where in _NAMES:
        result = i18n.translations(code).pgettext(_NAMES[where], text)
        return result if result != text and valid_name(result) else None
    result = i18n.translate_in(code, text)
    return result if result != text and 0 < len(result) <= MAX_DESCRIPTION else None


class KinfolkTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        # Only the locales a catalog was written for (es-ES and es-419 share Spanish).
        code = i18n.language_for(locale)
        if str(locale.value) not in i18n.BY_CODE[code].discord_locales:
            return None
        return translated(code, string.message, context.location)
