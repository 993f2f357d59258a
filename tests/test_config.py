"""Settings validation: every bad value is one clear line, and the token never shows."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, read_environment
from bot.db.crypto import generate_key
from bot.logs import HIDDEN, SENSITIVE_LOGGERS, RedactingFormatter, configure_logging

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"


def test_defaults_use_sqlite_under_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'kinfolk.db'}"
    assert settings.database_backend == "sqlite"
    assert settings.log_level == "INFO"
    assert settings.token is None
    assert settings.dev_guild_id is None


def test_all_settings_are_read() -> None:
    settings = load_settings(
        {
            "DISCORD_TOKEN": TOKEN,
            "DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/kinfolk",
            "LOG_LEVEL": "debug",
            "DEV_GUILD_ID": "123456789012345678",
            "DISCORD_API_BASE": "http://127.0.0.1:8000/api/v10/",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:8000/",
        }
    )
    assert settings.require_token() == TOKEN
    assert settings.database_backend == "postgresql"
    assert settings.log_level == "DEBUG"
    assert settings.dev_guild_id == 123456789012345678
    assert settings.api_base == "http://127.0.0.1:8000/api/v10"
    assert settings.gateway_url == "ws://127.0.0.1:8000"
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:///k.db"}, "DATABASE_URL"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"DEV_GUILD_ID": "my-server"}, "DEV_GUILD_ID"),
        ({"DISCORD_API_BASE": "localhost:8000"}, "DISCORD_API_BASE"),
        ({"DISCORD_GATEWAY_URL": "http://127.0.0.1"}, "DISCORD_GATEWAY_URL"),
        ({"DISCORD_TOKEN": "not a token"}, "DISCORD_TOKEN"),
        ({"ENCRYPTION_KEY": "hunter2"}, "ENCRYPTION_KEY"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.setting == setting
    assert str(caught.value).startswith(setting)
    assert "\n" not in str(caught.value)


def test_a_bad_token_is_not_echoed() -> None:
    bad = TOKEN.replace(".", " ", 1)
    with pytest.raises(ConfigError) as caught:
        load_settings({"DISCORD_TOKEN": bad})
    assert bad not in str(caught.value)
    assert "GhIjKl" not in str(caught.value)


def test_missing_token_is_only_required_to_run() -> None:
    settings = load_settings({})
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        settings.require_token()


def test_environment_wins_over_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=WARNING\nDEV_GUILD_ID=42\n")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    monkeypatch.delenv("DEV_GUILD_ID", raising=False)
    merged = read_environment(env_file)
    assert merged["LOG_LEVEL"] == "ERROR"
    assert merged["DEV_GUILD_ID"] == "42"


def test_log_lines_and_tracebacks_never_show_the_token() -> None:
    formatter = RedactingFormatter([TOKEN])
    try:
        raise RuntimeError(f"login with {TOKEN} failed")
    except RuntimeError:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "token=%s",
            (TOKEN,),
            exc_info=__import__("sys").exc_info(),
        )
    text = formatter.format(record)
    assert TOKEN not in text
    assert text.count(HIDDEN) == 2


def test_debug_logging_keeps_private_payload_loggers_at_info() -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("DEBUG", [TOKEN])
        assert root.level == logging.DEBUG
        for name in SENSITIVE_LOGGERS:
            assert logging.getLogger(name).getEffectiveLevel() == logging.INFO, name
        configure_logging("ERROR")
        assert logging.getLogger("discord.gateway").getEffectiveLevel() == logging.ERROR
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name in SENSITIVE_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_encryption_keys_newest_first() -> None:
    new, old = generate_key(), generate_key()
    settings = load_settings({"ENCRYPTION_KEY": f" {new} , {old} "})
    assert settings.require_encryption_keys() == (new, old)
    assert new not in repr(settings)
    assert set(settings.secrets) == {new, old}
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY is not set"):
        load_settings({}).require_encryption_keys()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("false", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("no", False),
        ("on", True),
        ("off", False),
        (" TRUE ", True),
        ("Off", False),
        ("", False),
    ],
)
def test_members_intent_reads_the_usual_spellings(raw: str, expected: bool) -> None:
    assert load_settings({"MEMBERS_INTENT": raw}).members_intent is expected


def test_members_intent_defaults_to_off_and_names_itself_when_bad() -> None:
    assert load_settings({}).members_intent is False
    with pytest.raises(ConfigError) as caught:
        load_settings({"MEMBERS_INTENT": "maybe"})
    assert caught.value.setting == "MEMBERS_INTENT"
    assert str(caught.value).startswith("MEMBERS_INTENT")
    assert "maybe" in str(caught.value)


# ----- scale-out settings (issue 9) -------------------------------------------------------


def test_scale_out_settings_default_to_one_process_without_metrics() -> None:
    settings = load_settings({})
    assert (settings.shard_count, settings.shard_ids) == (None, None)
    assert settings.outbox_per_second == 45.0
    assert settings.outbox_lease_seconds == 120
    assert settings.outbox_concurrency is None
    assert settings.outbox_lanes == 1  # SQLite by default: one writer
    on_postgres = load_settings({"DATABASE_URL": "postgresql+asyncpg://u@h:5432/k"})
    assert on_postgres.outbox_lanes == 4
    assert settings.metrics_port is None


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [
        ("4", None, None),
        ("4", "", None),
        ("4", "0,1", (0, 1)),
        ("4", "2-3", (2, 3)),
        ("8", "6, 0-2 ,4", (0, 1, 2, 4, 6)),
        ("4", "1,1-2,2", (1, 2)),
        ("1", "0", (0,)),
        (" 2 ", " 1 ", (1,)),
    ],
)
def test_shard_ids_read_lists_and_ranges(count: str, ids: str | None, expected: object) -> None:
    env = {"SHARD_COUNT": count} | ({} if ids is None else {"SHARD_IDS": ids})
    settings = load_settings(env)
    assert settings.shard_count == int(count)
    assert settings.shard_ids == expected


def test_outbox_and_metrics_settings_are_read() -> None:
    settings = load_settings(
        {
            "OUTBOX_PER_SECOND": "20",
            "OUTBOX_LEASE_SECONDS": "300",
            "OUTBOX_CONCURRENCY": "16",
            "METRICS_PORT": "9108",
        }
    )
    assert settings.outbox_per_second == 20.0
    assert isinstance(settings.outbox_per_second, float)
    assert settings.outbox_lease_seconds == 300
    assert settings.outbox_concurrency == 16
    assert settings.metrics_port == 9108
    # The bounds themselves are accepted.
    edges = load_settings(
        {
            "OUTBOX_PER_SECOND": "1",
            "OUTBOX_LEASE_SECONDS": "3600",
            "OUTBOX_CONCURRENCY": "64",
            "METRICS_PORT": "65535",
        }
    )
    assert (edges.outbox_per_second, edges.outbox_lease_seconds) == (1.0, 3600)
    assert (edges.outbox_concurrency, edges.metrics_port) == (64, 65535)


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "-1"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "100001"}, "SHARD_COUNT"),
        ({"SHARD_IDS": "0"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0-4"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3-1"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0,,1"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "-1"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "a-b"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0;1"}, "SHARD_IDS"),
        ({"OUTBOX_PER_SECOND": "0"}, "OUTBOX_PER_SECOND"),
        ({"OUTBOX_PER_SECOND": "10001"}, "OUTBOX_PER_SECOND"),
        ({"OUTBOX_PER_SECOND": "fast"}, "OUTBOX_PER_SECOND"),
        ({"OUTBOX_LEASE_SECONDS": "4"}, "OUTBOX_LEASE_SECONDS"),
        ({"OUTBOX_LEASE_SECONDS": "3601"}, "OUTBOX_LEASE_SECONDS"),
        ({"OUTBOX_LEASE_SECONDS": "2m"}, "OUTBOX_LEASE_SECONDS"),
        ({"OUTBOX_CONCURRENCY": "0"}, "OUTBOX_CONCURRENCY"),
        ({"OUTBOX_CONCURRENCY": "65"}, "OUTBOX_CONCURRENCY"),
        ({"OUTBOX_CONCURRENCY": "4.0"}, "OUTBOX_CONCURRENCY"),
        ({"METRICS_PORT": "0"}, "METRICS_PORT"),
        ({"METRICS_PORT": "65536"}, "METRICS_PORT"),
        ({"METRICS_PORT": "http"}, "METRICS_PORT"),
        ({"METRICS_PORT": "-9108"}, "METRICS_PORT"),
    ],
)
def test_bad_scale_out_values_name_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.setting == setting
    assert str(caught.value).startswith(setting)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "setting", ["OUTBOX_CONCURRENCY", "OUTBOX_LEASE_SECONDS", "METRICS_PORT", "SHARD_COUNT"]
)
def test_a_superscript_digit_is_a_config_error(setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({setting: "²"})
    assert caught.value.setting == setting
