from __future__ import annotations

import pytest

from bot.domain.timezones import is_valid_timezone, search_timezones, zone


def test_typing_part_of_a_city_finds_it() -> None:
    assert search_timezones("berl")[0] == "Europe/Berlin"
    assert "America/New_York" in search_timezones("new york")
    assert search_timezones("TOKYO") == ["Asia/Tokyo"]


def test_search_is_capped_for_discord_autocomplete() -> None:
    assert len(search_timezones("a")) == 25
    assert len(search_timezones("")) == 25


def test_validation() -> None:
    assert is_valid_timezone("Europe/Berlin")
    assert is_valid_timezone("UTC")
    assert not is_valid_timezone("Mars/Olympus_Mons")
    assert not is_valid_timezone("US/Eastern")  # legacy alias, hidden to avoid confusion
    with pytest.raises(ValueError, match="unknown timezone"):
        zone("Nowhere/Land")
    assert str(zone("Asia/Kolkata")) == "Asia/Kolkata"
