"""The crisis lines data file: a wrong number is a safety defect, so every entry is checked
for form and source, every country the project promises is there, and every locale Kinfolk
speaks leads to at least one national line."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from babel import Locale

from bot import i18n
from bot.domain import crisis_lines
from bot.domain.resources import resources_for

PROMISED = [
    *("US", "CA", "GB", "IE", "AU", "NZ", "ES", "MX", "AR", "DE", "AT", "CH", "FR", "BE"),
    *("NL", "IT", "PT", "BR", "IN", "ZA", "JP", "KR", "PH", "SE", "NO", "DK", "FI", "PL"),
]
NUMBER = re.compile(r"^\+?[0-9(][0-9 ()\-]{1,18}[0-9]$")
EMERGENCY = re.compile(r"^\d{2,5}$")
URL = re.compile(r"^https?://[a-z0-9.-]+\.[a-z]{2,}(/\S*)?$")
CHECKED = re.compile(r"^(\d{4}-\d{2}-\d{2}): \S.{8,}$")
SPEC = Path(__file__).parents[1] / "fakediscord" / "spec" / "openapi.json"

LINES = [line for country in crisis_lines.countries().values() for line in country.lines]


def discord_locales() -> list[str]:
    schema = json.loads(SPEC.read_text())["components"]["schemas"]["AvailableLocalesEnum"]
    return [choice["const"] for choice in schema["oneOf"]]


def test_every_promised_country_is_there_with_at_least_one_line() -> None:
    known = crisis_lines.countries()
    missing = [code for code in PROMISED if code not in known or not known[code].lines]
    assert missing == []


@pytest.mark.parametrize("country", crisis_lines.countries().values(), ids=lambda c: c.code)
def test_every_country_is_well_formed(country: crisis_lines.Country) -> None:
    assert country.code in Locale.parse("en").territories, "not an ISO 3166 code"
    assert country.emergency, "no emergency number"
    assert all(EMERGENCY.match(number) for number in country.emergency), country.emergency
    assert URL.match(country.emergency_source), country.emergency_source
    _assert_checked(country.emergency_checked)


@pytest.mark.parametrize("line", LINES, ids=lambda line: f"{line.country}-{line.organisation}")
def test_every_line_is_well_formed_and_names_its_source(line: crisis_lines.Line) -> None:
    assert line.organisation
    assert line.organisation.strip() == line.organisation
    assert line.call or line.text, "a line needs a number to call or text"
    for number in (*line.call, *line.text):
        assert NUMBER.match(number), number
    assert line.text_keyword is None or re.fullmatch(r"[A-Z]{2,10}", line.text_keyword)
    assert line.text_keyword is None or line.text, "a keyword needs a number to text"
    assert line.chat is None or URL.match(line.chat), line.chat
    assert crisis_lines.HOURS.fullmatch(line.hours), line.hours
    assert line.audience in crisis_lines.AUDIENCES
    assert URL.match(line.source), line.source
    _assert_checked(line.checked)


def _assert_checked(checked: str) -> None:
    match = CHECKED.match(checked)
    assert match, f"'checked' must say when and how: {checked!r}"
    assert date.fromisoformat(match.group(1)) <= date.today()


def test_no_number_appears_for_two_organisations_in_one_country() -> None:
    for country in crisis_lines.countries().values():
        numbers = [n for line in country.lines for n in line.call]
        assert len(numbers) == len(set(numbers)), country.code


# The numbers confirmed from each organisation's or a government's page on the date in the
# file: an edit that changes one of them must be made here too, on purpose.
CONFIRMED = {
    "US": "988",
    "CA": "988",
    "GB": "116 123",
    "IE": "116 123",
    "AU": "13 11 14",
    "NZ": "1737",
    "ES": "024",
    "MX": "800 911 2000",
    "AR": "0800-999-0091",
    "DE": "0800 111 0 111",
    "AT": "142",
    "CH": "143",
    "FR": "3114",
    "BE": "0800 32 123",
    "NL": "113",
    "IT": "02 2327 2327",
    "PT": "808 24 24 24",
    "BR": "188",
    "IN": "14416",
    "ZA": "0800 567 567",
    "JP": "0120-279-338",
    "KR": "109",
    "PH": "1553",
    "SE": "90101",
    "NO": "116 123",
    "DK": "70 201 201",
    "FI": "09 2525 0111",
    "PL": "116 123",
}


@pytest.mark.parametrize(("country", "number"), CONFIRMED.items())
def test_each_countrys_first_line_has_its_confirmed_number(country: str, number: str) -> None:
    assert number in crisis_lines.countries()[country].lines[0].call


def test_every_locale_mapped_to_countries_is_a_discord_locale_and_a_known_country() -> None:
    locales = set(discord_locales())
    for locale, codes in crisis_lines.LOCALE_COUNTRIES.items():
        assert locale in locales, locale
        assert all(code in crisis_lines.countries() for code in codes), locale


@pytest.mark.parametrize("code", PROMISED)
def test_every_promised_country_is_shown_first_when_it_is_the_servers_region(code: str) -> None:
    # Countries no Discord locale points at (Tagalog, Afrikaans… are not Discord locales)
    # are reached by the server's region: /setup resources region.
    shown = crisis_lines.for_member("en-US", region=code)
    assert shown[0].code == code


@pytest.mark.parametrize(
    "locale",
    [locale for language in i18n.LANGUAGES for locale in language.discord_locales],
)
def test_every_locale_kinfolk_speaks_resolves_to_a_national_line(locale: str) -> None:
    _, lines = resources_for(locale)
    assert len(lines) >= 2, "a national line and the directory"


@pytest.mark.parametrize("locale", discord_locales())
def test_every_discord_locale_gets_an_emergency_sentence_and_the_directory(locale: str) -> None:
    emergency, lines = resources_for(locale)
    assert "emergency" in emergency
    assert "findahelpline.com" in lines[-1]


@pytest.mark.parametrize("language", [language.code for language in i18n.LANGUAGES])
@pytest.mark.parametrize("line", LINES, ids=lambda line: f"{line.country}-{line.organisation}")
def test_every_line_renders_in_every_language_with_its_numbers(
    language: str, line: crisis_lines.Line
) -> None:
    with i18n.speaking(language):
        text = crisis_lines.describe(line)
    for number in (*line.call, *line.text):
        assert f"**{number}**" in text
    assert line.organisation in text
    assert len(text) < 400
