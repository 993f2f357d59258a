"""Crisis resources: the locale decides the order, a server can add or replace national
lines, and the emergency sentence and the international directory are always there."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.resources import EMERGENCY, ResourceMode, resources_for

DIRECTORY_URL = "https://findahelpline.com"
NATIONAL_NUMBERS = ("**988**", "**116 123**", "**9-8-8**", "**13 11 14**")


def _index(lines: list[str], needle: str) -> int:
    [index] = [i for i, line in enumerate(lines) if needle in line]
    return index


def test_en_us_shows_988_first() -> None:
    emergency, lines = resources_for("en-US")
    assert emergency == EMERGENCY
    assert "**988**" in lines[0]
    assert "United States" in lines[0]


def test_en_gb_shows_samaritans_first() -> None:
    _, lines = resources_for("en-GB")
    assert "Samaritans" in lines[0]
    assert "**116 123**" in lines[0]
    assert _index(lines, "**116 123**") < _index(lines, "**988**")


@pytest.mark.parametrize("locale", [None, "", "ja", "xx-YY", "de"])
def test_unknown_locale_still_lists_every_national_line(locale: str | None) -> None:
    _, lines = resources_for(locale)
    for number in NATIONAL_NUMBERS:
        assert sum(number in line for line in lines) == 1, number
    assert len(lines) == len(NATIONAL_NUMBERS) + 1


@pytest.mark.parametrize("locale", [None, "en-US", "en-GB", "fr", "es-ES", "es-419", "pt-BR"])
def test_every_locale_gets_all_four_lines_once_and_the_directory_last(
    locale: str | None,
) -> None:
    emergency, lines = resources_for(locale)
    assert "emergency number" in emergency
    for number in NATIONAL_NUMBERS:
        assert sum(number in line for line in lines) == 1, number
    assert DIRECTORY_URL in lines[-1]
    assert sum(DIRECTORY_URL in line for line in lines) == 1


def test_extend_puts_the_servers_lines_first() -> None:
    server = "  Our helpline: call 0800 123 \n\n Text SUPPORT to 555  "
    emergency, lines = resources_for("en-GB", server, ResourceMode.EXTEND)
    assert emergency == EMERGENCY
    assert lines[:2] == ["Our helpline: call 0800 123", "Text SUPPORT to 555"]
    assert "**116 123**" in lines[2]  # then the built-in lines, in locale order
    for number in NATIONAL_NUMBERS:
        assert any(number in line for line in lines)
    assert DIRECTORY_URL in lines[-1]


def test_replace_drops_the_built_in_national_lines_but_keeps_the_directory() -> None:
    emergency, lines = resources_for("en-US", "Local line: 0800 999", ResourceMode.REPLACE)
    assert emergency == EMERGENCY
    assert lines[0] == "Local line: 0800 999"
    assert not any(number in line for line in lines for number in NATIONAL_NUMBERS)
    assert DIRECTORY_URL in lines[-1]
    assert len(lines) == 2


@pytest.mark.parametrize("mode", [ResourceMode.EXTEND, ResourceMode.REPLACE])
@pytest.mark.parametrize("blank", [None, "", "   \n \n\t"])
def test_blank_server_text_falls_back_to_the_built_in_list(
    mode: ResourceMode, blank: str | None
) -> None:
    assert resources_for("en-GB", blank, mode) == resources_for("en-GB")


def test_default_mode_ignores_server_text() -> None:
    assert resources_for("en-US", "Our line", ResourceMode.DEFAULT) == resources_for("en-US")


@given(
    locale=st.one_of(st.none(), st.sampled_from(["en-US", "en-GB", "fr", "ja"]), st.text()),
    server=st.one_of(st.none(), st.text(max_size=200)),
    mode=st.sampled_from(ResourceMode),
)
def test_nobody_is_ever_left_without_a_way_to_find_help(
    locale: str | None, server: str | None, mode: ResourceMode
) -> None:
    emergency, lines = resources_for(locale, server, mode)
    assert emergency == EMERGENCY
    assert lines
    assert DIRECTORY_URL in lines[-1]
    assert all(line.strip() == line and line for line in lines)
