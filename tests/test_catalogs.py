"""The translation catalogs: the template is current, every language has every message with
the same placeholders, and every message renders in every language."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
from babel.messages.catalog import Catalog

from bot import catalogs, i18n
from bot.ui.translator import COMMAND_NAME, OPTION_NAME, valid_name

LANGUAGES = catalogs.translated_languages()
SAMPLE = {"count": 3, "name": "Sam"}


@pytest.fixture(scope="module")
def fresh() -> Catalog:
    return catalogs.template([*catalogs.code_messages(), *catalogs.command_messages()])


@pytest.fixture(scope="module")
def template() -> Catalog:
    return catalogs.load(catalogs.TEMPLATE)


def _keys(catalog: Catalog) -> set[tuple[object, str | None]]:
    return {(message.id, message.context) for message in catalog if message.id}


def test_the_template_holds_exactly_the_messages_in_the_code(
    fresh: Catalog, template: Catalog
) -> None:
    missing = _keys(fresh) - _keys(template)
    stale = _keys(template) - _keys(fresh)
    assert (missing, stale) == (set(), set()), "run: python -m bot.catalogs extract && update"


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_catalog_has_every_message_with_the_english_placeholders(
    code: str, template: Catalog
) -> None:
    assert catalogs.problems(code, template) == []


def test_the_check_finds_a_missing_message_and_a_changed_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pot = Catalog()
    pot.add("Hello {name}")
    pot.add("Bye")
    po = Catalog(locale="de")
    po.add("Hello {name}", "Hallo {nom}")
    path = tmp_path / "de" / "LC_MESSAGES" / "kinfolk.po"
    catalogs.save(path, po)
    monkeypatch.setattr(i18n, "catalog_path", lambda code: path)
    found = catalogs.problems("de", pot)
    assert len(found) == 2
    assert "missing" in found[1] or "missing" in found[0]
    assert any("placeholders ['{nom}'] instead of ['{name}']" in problem for problem in found)


@pytest.mark.parametrize("code", [language.code for language in i18n.LANGUAGES])
def test_every_message_renders_in_every_language(code: str, template: Catalog) -> None:
    translations = i18n.translations(code)
    for message in template:
        if not message.id:
            continue
        if message.context in (COMMAND_NAME, OPTION_NAME):
            name = translations.pgettext(message.context, message.id)
            assert valid_name(name), (code, message.id, name)
            continue
        if isinstance(message.id, tuple):
            texts = [translations.ngettext(*message.id, n) for n in (1, 2, 5, 21)]
        elif message.context:
            texts = [translations.pgettext(message.context, message.id)]
        else:
            texts = [translations.gettext(message.id)]
        english = message.id if isinstance(message.id, str) else message.id[1]
        for text in texts:
            names = {p.strip("{}") for p in catalogs.placeholders(english)}
            rendered = text.format(**{n: SAMPLE.get(n, "x") for n in names})
            assert 0 < len(rendered) <= 2000, (code, english)
            # A short message may be a button label or a choice (Discord allows 80 and 100).
            if len(english) <= 40:
                assert len(rendered) <= 80, (code, english, rendered)
            if any(location.startswith("commands/") for location, _ in message.locations):
                assert len(rendered) <= 100, (code, english, rendered)


def _forms() -> list[discord.ui.Modal]:
    from bot.domain.circles import Kind
    from bot.domain.resources import ResourceMode
    from cogs.checkins._views import NoteModal
    from cogs.circles._views import NameModal
    from cogs.escalation._member_views import ContextModal
    from cogs.escalation._setup import ResourcesModal

    return [
        NoteModal(1),
        *(NameModal(1, kind) for kind in Kind),
        ContextModal(1),
        ResourcesModal(ResourceMode.EXTEND, None),
    ]


@pytest.mark.parametrize("code", [language.code for language in i18n.LANGUAGES])
def test_every_form_fits_discords_limits_in_every_language(code: str) -> None:
    """Forms are where translations run longest against the tightest limits."""
    with i18n.speaking(code):
        forms = _forms()
    for form in forms:
        data = form.to_dict()
        assert 0 < len(data["title"]) <= 45, (code, data["title"])
        for row in data["components"]:
            for field in row.get("components", [row.get("component")]):
                if field is None:
                    continue
                assert 0 < len(field.get("label") or "x") <= 45, (code, field.get("label"))
                assert len(field.get("placeholder") or "") <= 100, (code, field["placeholder"])
        if code != i18n.ENGLISH:
            assert data["title"] != form.TITLE, (code, "the title was not translated")
