"""The stand-in refuses commands Discord would refuse: bad names and localisations."""

from __future__ import annotations

from typing import Any

from tests.fakediscord.validation import command_rule_errors


def command(**extra: Any) -> dict[str, Any]:
    return {"name": "talk", "description": "Ask to talk", "type": 1, **extra}


def test_a_well_localised_command_passes() -> None:
    good = command(
        name_localizations={"de": "reden", "es-ES": "hablar"},
        description_localizations={"fr": "Demander à parler"},
        options=[
            {
                "name": "mood",
                "description": "How are you",
                "type": 3,
                "name_localizations": {"de": "stimmung"},
                "choices": [{"name": "Good", "value": "g", "name_localizations": {"it": "Bene"}}],
            }
        ],
    )
    assert command_rule_errors([good]) == []


def test_names_must_follow_discords_rule_in_every_locale() -> None:
    assert command_rule_errors([command(name="Talk")])
    assert command_rule_errors([command(name_localizations={"de": "Reden"})])
    assert command_rule_errors([command(name_localizations={"de": "mit uns reden"})])
    assert command_rule_errors([command(name_localizations={"de": "x" * 33})])


def test_localisations_need_discords_locales_and_limits() -> None:
    assert command_rule_errors([command(name_localizations={"de-DE": "reden"})])
    assert command_rule_errors([command(description_localizations={"fr": "x" * 101})])
    choice = {"name": "Good", "value": "g", "name_localizations": {"it": "x" * 101}}
    option = {"name": "mood", "description": "d", "type": 3, "choices": [choice]}
    assert command_rule_errors([command(options=[option])])


def test_two_siblings_may_not_share_a_name_in_any_locale() -> None:
    one = command(name="talk", name_localizations={"de": "reden"})
    two = command(name="chat", name_localizations={"de": "reden"})
    [problem] = command_rule_errors([one, two])
    assert "in de" in problem
