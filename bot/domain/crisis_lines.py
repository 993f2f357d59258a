"""National crisis lines, from `crisis_lines.toml` (each with the public page it came from).

Which countries a member sees first: the server's region (`/setup resources`), then the
countries of the member's Discord language (Discord tells a language, not a country: "fr" is
France, Belgium, Switzerland and Canada). Words around the numbers ("call", "free") are in
the member's language; organisations keep their own names.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bot.i18n import _, ngettext, territory_name

DATA = Path(__file__).with_name("crisis_lines.toml")
HOURS = re.compile(r"24/7|([01]\d|2[0-4]):[0-5]\d–([01]\d|2[0-4]):[0-5]\d")
AUDIENCES = ("everyone", "young")

# Discord's locales (https://discord.com/developers/docs/reference#locales) → the countries
# whose lines come first. A locale not listed here gets the emergency sentence and the
# international directory only: another country's line would not help.
LOCALE_COUNTRIES: dict[str, tuple[str, ...]] = {
    "en-US": ("US", "CA"),
    "en-GB": ("GB", "IE", "AU", "NZ"),
    "es-ES": ("ES",),
    "es-419": ("MX", "AR"),
    "de": ("DE", "AT", "CH"),
    "fr": ("FR", "BE", "CH", "CA"),
    "pt-BR": ("BR", "PT"),
    "nl": ("NL", "BE"),
    "it": ("IT", "CH"),
    "hi": ("IN",),
    "ja": ("JP",),
    "ko": ("KR",),
    "sv-SE": ("SE",),
    "no": ("NO",),
    "da": ("DK",),
    "fi": ("FI",),
    "pl": ("PL",),
}
MAX_COUNTRIES = 4  # shown at once; findahelpline.com covers the rest


@dataclass(frozen=True)
class Line:
    country: str
    organisation: str
    call: tuple[str, ...]
    text: tuple[str, ...]
    text_keyword: str | None
    chat: str | None
    hours: str
    free: bool
    audience: str
    source: str
    checked: str


@dataclass(frozen=True)
class Country:
    code: str
    emergency: tuple[str, ...]
    emergency_source: str
    emergency_checked: str
    lines: tuple[Line, ...]


@cache
def countries() -> dict[str, Country]:
    """Every country in the data file, by ISO 3166-1 alpha-2 code."""
    with DATA.open("rb") as data:
        raw = tomllib.load(data)["countries"]
    return {code: _country(code, entry) for code, entry in raw.items()}


def _country(code: str, entry: dict[str, Any]) -> Country:
    lines = entry.get("lines", [])
    return Country(
        code=code,
        emergency=tuple(entry["emergency"]),
        emergency_source=str(entry["emergency_source"]),
        emergency_checked=str(entry["emergency_checked"]),
        lines=tuple(
            Line(
                country=code,
                organisation=line["organisation"],
                call=tuple(line.get("call", ())),
                text=tuple(line.get("text", ())),
                text_keyword=line.get("text_keyword"),
                chat=line.get("chat"),
                hours=line["hours"],
                free=bool(line["free"]),
                audience=line.get("audience", "everyone"),
                source=line["source"],
                checked=line["checked"],
            )
            for line in lines
        ),
    )


def for_member(locale: str | None, region: str | None = None) -> list[Country]:
    """The countries to show: the server's region first, then the member's language's."""
    wanted = [region.upper()] if region else []
    wanted += LOCALE_COUNTRIES.get(locale or "", ())
    known = countries()
    seen: list[Country] = []
    for code in wanted:
        if code in known and known[code] not in seen:
            seen.append(known[code])
    return seen[:MAX_COUNTRIES]


def country_name(code: str) -> str:
    """The country's name in the current language ("Spain", "España", "Spanien")."""
    return territory_name(code)


def describe(line: Line) -> str:
    """One line, in the current language: how to reach it, when, and whether it is free."""
    ways: list[str] = []
    if line.call:
        ways.append(_("call {numbers}").format(numbers=" / ".join(f"**{n}**" for n in line.call)))
    for number in line.text:
        if line.text_keyword:
            ways.append(
                _("text {keyword} to {number}").format(
                    keyword=f"**{line.text_keyword}**", number=f"**{number}**"
                )
            )
        else:
            ways.append(_("text {number}").format(number=f"**{number}**"))
    name = f"[{line.organisation}]({line.chat})" if line.chat else line.organisation
    details = [_("24/7") if line.hours == "24/7" else _("daily {hours}").format(hours=line.hours)]
    if line.free:
        details.append(_("free"))
    if line.audience == "young":
        details.append(_("for children and young people"))
    return _("{organisation}: {ways} ({details})").format(
        organisation=name, ways=_(", or ").join(ways), details=", ".join(details)
    )


def emergency_sentence(shown: list[Country]) -> str:
    """Where to call in danger: the shown countries' emergency numbers, else the usual ones."""
    if not shown:
        return _(
            "If you are in danger right now, call your local emergency number (911, 999, 112, 000)."
        )
    by_number: dict[str, list[str]] = {}
    for country in shown:
        by_number.setdefault(country.emergency[0], []).append(country_name(country.code))
    numbers = ", ".join(f"**{n}** ({', '.join(names)})" for n, names in by_number.items())
    return ngettext(
        "If you are in danger right now, call the emergency number {numbers}.",
        "If you are in danger right now, call your local emergency number: {numbers}.",
        len(by_number),
    ).format(numbers=numbers)
