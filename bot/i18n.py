"""The one translation layer: every word a member or moderator reads goes through here.

Messages are written in English in the code, marked for translation, and looked up in
standard gettext catalogs (`bot/locales/<lang>/LC_MESSAGES/kinfolk.po`, extracted and
checked with Babel; see "Translating Kinfolk" in the README):

- `_("You're checked in.")` translates now, into the language of the current scope;
- `ngettext("{count} day", "{count} days", n).format(count=number(n))` picks the plural form
  the language needs;
- `N_("Claim")` only marks a string (a module constant) for extraction; pass it through
  `_()` where it is shown.

Which language is current is a context variable, set once where work starts:

- an interaction (a command, a button, a form): the member's own client language,
  `interaction.locale` (`use`, called by the command tree, `ReportsErrors` and the modal
  router), so a reply is in the language of whoever asked;
- an outbox message: the language of its reader, resolved when it is sent
  (`bot.services.languages`): a DM in the member's last-used language, else the server's; a
  channel post in the server's (set with `/setup language`, else Discord's server locale).

Asyncio tasks copy the context they start in, so nothing leaks from one member's interaction
into another's. A language without a catalog is English. A message missing from a catalog
would come out in English alone, so `tests/test_catalogs.py` fails when any catalog lacks a
message: one message never mixes two languages.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

DOMAIN = "kinfolk"
LOCALES = Path(__file__).parent / "locales"
ENGLISH = "en"


@dataclass(frozen=True)
class Language:
    code: str  # the catalog's folder under bot/locales, and what /setup language stores
    name: str  # in the language itself, as a moderator picking it would look for it
    discord_locales: tuple[str, ...]  # Discord's locale codes that read this catalog
    babel_locale: str  # for numbers


LANGUAGES: tuple[Language, ...] = (
    Language(ENGLISH, "English", ("en-US", "en-GB"), "en"),
    Language("es", "Español", ("es-ES", "es-419"), "es"),
    Language("de", "Deutsch", ("de",), "de"),
    Language("fr", "Français", ("fr",), "fr"),
    Language("pt_BR", "Português do Brasil", ("pt-BR",), "pt_BR"),
    Language("nl", "Nederlands", ("nl",), "nl"),
    Language("it", "Italiano", ("it",), "it"),
)
BY_CODE: dict[str, Language] = {language.code: language for language in LANGUAGES}
_BY_DISCORD: dict[str, str] = {
    locale.lower(): language.code for language in LANGUAGES for locale in language.discord_locales
}

_current: ContextVar[str] = ContextVar("kinfolk_language", default=ENGLISH)


def language_for(locale: object) -> str:
    """The catalog for a Discord locale ("es-ES", a `discord.Locale`) or a catalog code
    ("pt_BR"); English when Kinfolk has no catalog for it."""
    text = str(getattr(locale, "value", locale) or "")
    if text in BY_CODE:
        return text
    return _BY_DISCORD.get(text.lower(), ENGLISH)


def current() -> str:
    """The catalog code of the current scope."""
    return _current.get()


def use(locale: object) -> None:
    """Speak `locale` for the rest of this task (an interaction's handler)."""
    _current.set(language_for(locale))


@contextmanager
def speaking(locale: object) -> Iterator[str]:
    """Speak `locale` inside the block (an outbox message, a channel post)."""
    token = _current.set(language_for(locale))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def catalog_path(code: str) -> Path:
    return LOCALES / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The compiled catalog of language `code` (English: none, the code's own words). The
    `.po` file is compiled in memory once per process, so no build step can leave a stale
    `.mo` behind."""
    path = catalog_path(code)
    if code == ENGLISH or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: unreviewed words never show
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    """`message` in the current language."""
    if not message:
        return message
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural message (by the language's own rules) for `count`."""
    return translations(_current.get()).ngettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    """`message` in the current language, told apart from the same English words used
    elsewhere by `context` (a command's name, say)."""
    return translations(_current.get()).pgettext(context, message)


def N_(message: str) -> str:
    """Marks `message` for translation without translating it (a module constant)."""
    return message


def babel_locale() -> str:
    """The Babel locale of the current language, for numbers, dates and country names."""
    return BY_CODE[_current.get()].babel_locale


def number(value: int | float) -> str:
    """`value` written as the current language writes numbers (1,234 / 1.234 / 1 234)."""
    return format_decimal(value, locale=babel_locale())


def territory_name(code: str) -> str:
    """A country's name (ISO 3166 `code`) in the current language, from the CLDR data."""
    return str(Locale.parse(babel_locale()).territories.get(code, code))


def translate_in(code: str, message: str) -> str:
    """`message` in language `code`, whatever the current scope (command localisations)."""
    return translations(code).gettext(message)
