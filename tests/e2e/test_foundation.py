"""The foundation end to end: log in, sync, /about, /setup and its permission check, errors."""

from __future__ import annotations

import importlib
import logging
import re

import pytest

from bot.client import KinfolkBot
from tests.e2e.conftest import MANAGE_GUILD, Haven, StartBot, embed_fields
from tests.fakediscord import FakeDiscord


def command_puts(fake: FakeDiscord) -> list[str]:
    return [r.path for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands")]


async def test_logs_in_and_syncs_its_commands(
    fake: FakeDiscord, kinfolk: KinfolkBot, haven: Haven
) -> None:
    await fake.wait_commands_synced()
    commands = {c["name"]: c for c in fake.global_commands}
    assert set(commands) == {
        "about",
        "setup",
        "talk",
        "support",
        "checkin",
        "mood",
        "reminder",
        "buddy",
        "reachout",
        "circle",
        "offer",
        "thinking-of-you",
        "privacy",
        "audit",
    }
    setup = commands["setup"]
    assert {o["name"] for o in setup["options"]} == {
        "show",
        "timezone",
        "language",
        "escalation",
        "resources",
        "checkins",
        "buddies",
        "buddies-round",
        "reachout",
        "circles",
        "privacy",
    }
    assert int(setup["default_member_permissions"]) == MANAGE_GUILD
    assert setup["dm_permission"] is False  # guild only
    assert kinfolk.get_guild(haven.guild_id) is not None
    # No privileged intent was asked for (members 1<<1, presences 1<<8, message content 1<<15).
    [session] = fake.gateway.sessions.values()
    assert session.intents & (1 << 1 | 1 << 8 | 1 << 15) == 0


async def test_about_answers_privately(
    fake: FakeDiscord, kinfolk: KinfolkBot, haven: Haven, backend: str
) -> None:
    handle = await fake.invoke(haven.guild_id, haven.general_id, haven.member.id, "about")
    message = await handle.original_message()
    assert handle.is_ephemeral
    fields = embed_fields(message.embeds)
    assert fields["Version"]
    assert fields["Uptime"] == "0 seconds"  # the injected clock has not moved
    assert fields["Gateway latency"].endswith(("ms", "measuring…"))
    assert (
        fields["Database"] == {"sqlite": "SQLite (embedded)", "postgresql": "PostgreSQL"}[backend]
    )
    assert "Server settings" in fields["In this server"]


async def test_setup_refuses_a_member_without_manage_server(
    fake: FakeDiscord, kinfolk: KinfolkBot, haven: Haven
) -> None:
    refused = await fake.invoke(haven.guild_id, haven.general_id, haven.member.id, "setup show")
    answer = await refused.original_message()
    assert refused.is_ephemeral
    assert "Manage Server" in answer.content
    assert answer.embeds == []
    changing = await fake.invoke(
        haven.guild_id,
        haven.general_id,
        haven.member.id,
        "setup timezone",
        options={"timezone": "Asia/Tokyo"},
    )
    assert "Manage Server" in (await changing.original_message()).content
    shown = await fake.invoke(haven.guild_id, haven.general_id, haven.moderator.id, "setup show")
    fields = embed_fields((await shown.original_message()).embeds)
    assert fields["Server settings (▫️ not set up)"] == (
        "defaults (timezone UTC), posts in English (the server's Discord language), "
        "crisis lines by each member's Discord language"
    )


async def test_setup_timezone(fake: FakeDiscord, kinfolk: KinfolkBot, haven: Haven) -> None:
    where = (haven.guild_id, haven.general_id, haven.moderator.id)
    choices = await fake.autocomplete(*where, "setup timezone", {"timezone": "berl"}, "timezone")
    assert choices[0] == {"name": "Europe/Berlin", "value": "Europe/Berlin"}
    done = await fake.invoke(*where, "setup timezone", options={"timezone": "Europe/Berlin"})
    assert "Europe/Berlin" in (await done.original_message()).content
    bad = await fake.invoke(*where, "setup timezone", options={"timezone": "Mars/Olympus"})
    assert "isn't a timezone I know" in (await bad.original_message()).content
    shown = await fake.invoke(*where, "setup show")
    fields = embed_fields((await shown.original_message()).embeds)
    assert fields["Server settings (✅ set up)"] == (
        "timezone Europe/Berlin, posts in English (the server's Discord language), "
        "crisis lines by each member's Discord language"
    )


async def test_restart_skips_an_unchanged_sync(fake: FakeDiscord, start_bot: StartBot) -> None:
    await start_bot()
    assert command_puts(fake) == [f"/applications/{fake.world.application_id}/commands"]
    await start_bot()  # a restart with the same commands
    assert len(command_puts(fake)) == 1


async def test_dev_guild_gets_commands_at_once(
    fake: FakeDiscord, start_bot: StartBot, haven: Haven
) -> None:
    await start_bot(dev_guild_id=haven.guild_id)
    assert command_puts(fake) == [
        f"/applications/{fake.world.application_id}/guilds/{haven.guild_id}/commands"
    ]
    assert {c["name"] for c in fake.guild_commands(haven.guild_id)} == {
        "about",
        "setup",
        "talk",
        "support",
        "checkin",
        "mood",
        "reminder",
        "buddy",
        "reachout",
        "circle",
        "offer",
        "thinking-of-you",
        "privacy",
        "audit",
    }


async def test_unexpected_error_is_kind_and_logged_with_an_id(
    fake: FakeDiscord,
    kinfolk: KinfolkBot,
    haven: Haven,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*_: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(importlib.import_module("cogs.about._cog"), "feature_statuses", broken)
    with caplog.at_level(logging.ERROR, logger="kinfolk.errors"):
        handle = await fake.invoke(haven.guild_id, haven.general_id, haven.member.id, "about")
        answer = await handle.original_message()
    assert handle.is_ephemeral
    error_id = re.search(r"error id `([0-9a-f]{8})`", answer.content)
    assert error_id is not None
    [record] = [r for r in caplog.records if error_id.group(1) in r.getMessage()]
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


async def test_database_outage_asks_to_try_again(
    fake: FakeDiscord, kinfolk: KinfolkBot, haven: Haven, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*_: object, **__: object) -> None:
        raise ConnectionRefusedError("database restarting")

    monkeypatch.setattr(importlib.import_module("cogs.setup._cog"), "set_timezone", unreachable)
    handle = await fake.invoke(
        haven.guild_id,
        haven.general_id,
        haven.moderator.id,
        "setup timezone",
        options={"timezone": "Europe/Paris"},
    )
    answer = await handle.original_message()
    assert "try again in a moment" in answer.content
    assert "error id" not in answer.content
