"""Crisis resources: the server's region and the member's locale decide the countries, a
server can add or replace national lines, and the emergency sentence and the international
directory are always there."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import i18n
from bot.domain import crisis_lines
from bot.domain.resources import DIRECTORY_URL, ResourceMode, resources_for

GENERIC = "If you are in danger right now, call your local emergency number (911, 999, 112, 000)."


def _index(lines: list[str], needle: str) -> int:
    [index] = [i for i, line in enumerate(lines) if needle in line]
    return index


def test_en_us_shows_988_first_and_911() -> None:
    emergency, lines = resources_for("en-US")
    assert "**911**" in emergency
    assert "988 Suicide & Crisis Lifeline" in lines[0]
    assert "**988**" in lines[0]
    assert "United States" in lines[0]
    assert "Canada" in lines[1]


def test_en_gb_shows_samaritans_first_and_999() -> None:
    emergency, lines = resources_for("en-GB")
    assert "**999** (United Kingdom)" in emergency
    assert "Samaritans" in lines[0]
    assert "**116 123**" in lines[0]
    assert "**988**" not in " ".join(lines)  # the US line would not help in the UK


def test_a_member_in_spain_is_shown_024_and_112_not_988() -> None:
    with i18n.speaking("es-ES"):
        emergency, lines = resources_for("es-ES")
    assert "**112**" in emergency
    assert "**024**" in lines[0]
    assert not any("988" in line for line in lines)


def test_the_servers_region_comes_before_the_members_language() -> None:
    _, lines = resources_for("fr", region="BE")
    assert "0800 32 123" in lines[0]  # Belgium's French-speaking line
    assert _index(lines, "**3114**") > _index(lines, "0800 32 123")


@pytest.mark.parametrize("locale", [None, "", "xx-YY", "ro", "zh-TW"])
def test_a_language_with_no_country_gets_the_general_sentence_and_the_directory(
    locale: str | None,
) -> None:
    emergency, lines = resources_for(locale)
    assert emergency == GENERIC
    assert lines == [lines[-1]]
    assert DIRECTORY_URL in lines[-1]


def test_extend_puts_the_servers_lines_first() -> None:
    server = "  Our helpline: call 0800 123 \n\n Text SUPPORT to 555  "
    _, lines = resources_for("en-GB", server, ResourceMode.EXTEND)
    assert lines[:2] == ["Our helpline: call 0800 123", "Text SUPPORT to 555"]
    assert "**116 123**" in lines[2]  # then the built-in lines, in locale order
    assert DIRECTORY_URL in lines[-1]


def test_replace_drops_the_built_in_national_lines_but_keeps_emergency_and_directory() -> None:
    emergency, lines = resources_for("en-US", "Local line: 0800 999", ResourceMode.REPLACE)
    assert "**911**" in emergency
    assert lines == ["Local line: 0800 999", lines[-1]]
    assert DIRECTORY_URL in lines[-1]


@pytest.mark.parametrize("mode", [ResourceMode.EXTEND, ResourceMode.REPLACE])
@pytest.mark.parametrize("blank", [None, "", "   \n \n\t"])
def test_blank_server_text_falls_back_to_the_built_in_list(
    mode: ResourceMode, blank: str | None
) -> None:
    assert resources_for("en-GB", blank, mode) == resources_for("en-GB")


def test_default_mode_ignores_server_text() -> None:
    assert resources_for("en-US", "Our line", ResourceMode.DEFAULT) == resources_for("en-US")


@given(
    locale=st.one_of(
        st.none(), st.sampled_from(["en-US", "en-GB", "fr", "ja", "pt-BR"]), st.text()
    ),
    server=st.one_of(st.none(), st.text(max_size=200)),
    mode=st.sampled_from(ResourceMode),
    region=st.one_of(st.none(), st.sampled_from(["US", "ES", "PH", "ZZ"])),
    language=st.sampled_from([language.code for language in i18n.LANGUAGES]),
)
def test_nobody_is_ever_left_without_a_way_to_find_help(
    locale: str | None, server: str | None, mode: ResourceMode, region: str | None, language: str
) -> None:
    with i18n.speaking(language):
        emergency, lines = resources_for(locale, server, mode, region)
    shown = crisis_lines.for_member(locale, region)
    if shown:
        assert f"**{shown[0].emergency[0]}**" in emergency
    else:
        assert all(number in emergency for number in ("911", "999", "112", "000"))
    assert lines
    assert DIRECTORY_URL in lines[-1]
    assert sum(DIRECTORY_URL in line for line in lines) == 1
    assert all(line.strip() == line and line for line in lines)
