"""Kinfolk's translation catalogs: extract the English messages, update the languages' `.po`
files, and check them (see "Translating Kinfolk" in the README).

    python -m bot.catalogs extract   # bot/locales/kinfolk.pot from the code and the commands
    python -m bot.catalogs update    # merge it into every bot/locales/<lang>/.../kinfolk.po
    python -m bot.catalogs check     # every message translated, placeholders kept (exit 1)
    python -m bot.catalogs init LANG # start a new language's catalog

Messages come from two places: the code's `_()`, `N_()`, `ngettext()` and `pgettext()` calls
(Babel's extractor), and the slash commands' names, descriptions, options and choices, read
from the real command tree (they are translated by `bot.ui.translator`). The `.pot` file is
what Weblate, Crowdin or Poedit take as the template; each language's `.po` file is what a
translator edits.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot import i18n
from bot.ui.translator import COMMAND_NAME, OPTION_NAME

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = i18n.LOCALES / f"{i18n.DOMAIN}.pot"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
COMMENT_TAGS = ("Translators:",)
PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*\}")


@dataclass(frozen=True)
class Entry:
    message: str | tuple[str, str]  # a plural message is (singular, plural)
    context: str | None
    where: str  # file:line, or the command it belongs to


def code_messages() -> Iterator[Entry]:
    """The messages marked in the code of `bot/` and `cogs/`."""
    for folder in ("bot", "cogs"):
        for filename, line, message, _comments, context in extract_from_dir(
            ROOT / folder,
            method_map=[("**/migrations/**.py", "ignore"), ("**.py", "python")],
            keywords=KEYWORDS,
            comment_tags=COMMENT_TAGS,
            strip_comment_tags=True,
        ):
            if isinstance(message, tuple):
                message = (message[0], message[1]) if len(message) > 1 else message[0]
            if message:
                yield Entry(message, context, f"{folder}/{filename}:{line}")


async def _command_tree_messages() -> list[Entry]:
    from discord import app_commands

    from bot.client import KinfolkBot, discover_extensions
    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.db.engine import Database

    url = "sqlite+aiosqlite:///:memory:"
    db = Database(url)
    bot = KinfolkBot(settings=Settings(token=None, database_url=url), db=db, clock=SystemClock())
    entries: list[Entry] = []
    try:
        for name in discover_extensions():
            await bot.load_extension(name)
        for command in bot.tree.walk_commands():
            where = "commands/" + command.qualified_name.replace(" ", "/")
            entries.append(Entry(command.name, COMMAND_NAME, where))
            entries.append(Entry(command.description, None, where))
            if isinstance(command, app_commands.Command):
                for parameter in command.parameters:
                    entries.append(Entry(parameter.name, OPTION_NAME, f"{where}/{parameter.name}"))
                    entries.append(Entry(parameter.description, None, f"{where}/{parameter.name}"))
                    for choice in parameter.choices:
                        entries.append(Entry(choice.name, None, f"{where}/{parameter.name}"))
        for menu in bot.tree.get_commands(type=None):  # user and message menus, if any
            if isinstance(menu, app_commands.ContextMenu):
                entries.append(Entry(menu.name, None, "menus/" + menu.name.replace(" ", "_")))
    finally:
        await db.close()
    return [entry for entry in entries if entry.message and entry.message != "…"]


def command_messages() -> list[Entry]:
    """The slash commands' names, descriptions, options and choices."""
    return asyncio.run(_command_tree_messages())


def template(entries: Iterable[Entry]) -> Catalog:
    """The `.pot` catalog of these messages."""
    catalog = Catalog(
        project="Kinfolk",
        copyright_holder="Kinfolk contributors",
        charset="utf-8",
    )
    for entry in entries:
        location = entry.where.rsplit(":", 1)
        lineno = int(location[1]) if len(location) == 2 and location[1].isdigit() else 0
        existing = catalog.get(entry.message, context=entry.context)
        if existing is not None:
            existing.locations.append((location[0], lineno))
            continue
        catalog.add(entry.message, context=entry.context, locations=[(location[0], lineno)])
    return catalog


def extract() -> Catalog:
    catalog = template([*code_messages(), *command_messages()])
    with TEMPLATE.open("wb") as out:
        write_po(out, catalog, width=100, sort_output=True)
    return catalog


def load(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=locale)


def save(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog, width=100, sort_output=True, include_previous=True)


def translated_languages() -> list[str]:
    return [language.code for language in i18n.LANGUAGES if language.code != i18n.ENGLISH]


def update() -> None:
    pot = load(TEMPLATE)
    for code in translated_languages():
        path = i18n.catalog_path(code)
        catalog = load(path, code) if path.exists() else Catalog(locale=code)
        catalog.update(pot, no_fuzzy_matching=True)
        save(path, catalog)


def _key(message: Message) -> tuple[str, str | None]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return msgid, message.context


def _strings(message: Message, *, msgid: bool = False) -> tuple[str, ...]:
    """A message's translation(s), or with `msgid` its English (singular, plural)."""
    value = message.id if msgid else message.string
    if isinstance(value, (tuple, list)):
        return tuple(str(text) for text in value)
    return (str(value or ""),)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def problems(code: str, pot: Catalog) -> list[str]:
    """What is wrong with language `code`'s catalog against the template: a message missing
    or untranslated or fuzzy, a placeholder lost or added, a plural form missing."""
    catalog = load(i18n.catalog_path(code), code)
    found: list[str] = []
    for message in pot:
        if not message.id:
            continue
        translated = catalog.get(message.id, context=message.context)
        label = f"{code}: {_key(message)[0][:60]!r}"
        if translated is None or translated.fuzzy:
            found.append(f"{label}: missing" if translated is None else f"{label}: fuzzy")
            continue
        strings = _strings(translated)
        if not all(strings) or len(strings) < (catalog.num_plurals if message.pluralizable else 1):
            found.append(f"{label}: not translated")
            continue
        expected = placeholders(_strings(message, msgid=True)[-1])
        for text in strings:
            # A plural form may leave out the count ("one day" for "{count} day"), no more.
            got = placeholders(text)
            if got != expected and not (message.pluralizable and set(got) <= set(expected)):
                found.append(f"{label}: placeholders {got} instead of {expected}")
    return found


def check() -> list[str]:
    pot = load(TEMPLATE)
    return [problem for code in translated_languages() for problem in problems(code, pot)]


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "extract":
        catalog = extract()
        print(f"{TEMPLATE.relative_to(ROOT)}: {len(catalog)} messages")
    elif command == "update":
        update()
        print("updated: " + ", ".join(translated_languages()))
    elif command == "init" and len(argv) == 2:
        path = i18n.catalog_path(argv[1])
        catalog = Catalog(locale=argv[1])
        catalog.update(load(TEMPLATE), no_fuzzy_matching=True)
        save(path, catalog)
        print(f"{path.relative_to(ROOT)}: add the language to bot.i18n.LANGUAGES")
    elif command == "check":
        found = check()
        for problem in found:
            print(problem)
        print(f"{len(found)} problem(s)")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
