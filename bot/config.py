"""Settings, read once at start from the environment and a `.env` file.

Every bad value produces one `ConfigError` that names the setting and how to fix it, so
the command line can print a single line and exit 2 instead of a traceback. The token is
never part of any message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.jobs.defaults import OUTBOX_LEASE_SECONDS, OUTBOX_PER_SECOND

DEFAULT_SQLITE_PATH = Path("data") / "kinfolk.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        super().__init__(f"{setting} {problem}: {fix}")
        self.setting = setting


@dataclass(frozen=True)
class Settings:
    """Validated settings. `token` is excluded from repr so it can never be logged by accident."""

    token: str | None = field(repr=False)
    database_url: str
    log_level: str = "INFO"
    dev_guild_id: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    # The privileged Server Members intent: lets Kinfolk notice at once when a member leaves
    # (their buddy is told). Must also be switched on in the Developer Portal.
    members_intent: bool = False
    # Sharding: how many shards the bot runs in all, and which of them this process runs
    # (None: all of them). Unset, Discord's recommended count is used, in one process.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    # The outbox: REST requests a second for this process (all processes together must stay
    # under Discord's 50), how long a claimed message is leased, and how many are sent at once.
    outbox_per_second: float = float(OUTBOX_PER_SECOND)
    outbox_lease_seconds: int = OUTBOX_LEASE_SECONDS
    # None: 1 on SQLite (one writer: more would only queue in front of members' commands),
    # 4 on PostgreSQL.
    outbox_concurrency: int | None = None
    # Serve Prometheus metrics on this port of 127.0.0.1 (needs the "metrics" extra).
    metrics_port: int | None = None

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError(
                "DISCORD_TOKEN",
                "is not set",
                "put your bot token in .env (copy .env.example) or in the environment",
            )
        return self.token

    def require_encryption_keys(self) -> tuple[str, ...]:
        if not self.encryption_keys:
            raise ConfigError(
                "ENCRYPTION_KEY",
                "is not set",
                "run `kinfolk keygen` and put the key it prints in .env as ENCRYPTION_KEY=…",
            )
        return self.encryption_keys

    @property
    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        return [s for s in (self.token, *self.encryption_keys) if s]

    @property
    def outbox_lanes(self) -> int:
        """Outbox messages sent at once: OUTBOX_CONCURRENCY, or the backend's default."""
        if self.outbox_concurrency is not None:
            return self.outbox_concurrency
        return 1 if self.database_backend == "sqlite" else 4

    @property
    def database_backend(self) -> str:
        """'sqlite' or 'postgresql', for display."""
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"


def read_environment(env_file: str | os.PathLike[str] | None = ".env") -> dict[str, str]:
    """Merge `.env` (if present) under the real environment; the environment wins."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def load_settings(env: Mapping[str, str]) -> Settings:
    """Validate `env` into `Settings`; raises `ConfigError` on the first bad value."""
    token = _blank_to_none(env.get("DISCORD_TOKEN"))
    if token is not None and (any(ch.isspace() for ch in token) or token.count(".") != 2):
        raise ConfigError(
            "DISCORD_TOKEN",
            "does not look like a bot token",
            "copy it again from the Developer Portal (Bot → Reset Token); "
            "it has three parts separated by dots and no spaces",
        )
    shard_count, shard_ids = _shards(env.get("SHARD_COUNT"), env.get("SHARD_IDS"))
    return Settings(
        token=token,
        database_url=_database_url(env.get("DATABASE_URL")),
        log_level=_log_level(env.get("LOG_LEVEL")),
        dev_guild_id=_snowflake("DEV_GUILD_ID", env.get("DEV_GUILD_ID")),
        api_base=_http_url("DISCORD_API_BASE", env.get("DISCORD_API_BASE"), ("http", "https")),
        gateway_url=_http_url("DISCORD_GATEWAY_URL", env.get("DISCORD_GATEWAY_URL"), ("ws", "wss")),
        encryption_keys=_encryption_keys(env.get("ENCRYPTION_KEY")),
        members_intent=_flag("MEMBERS_INTENT", env.get("MEMBERS_INTENT")),
        shard_count=shard_count,
        shard_ids=shard_ids,
        metrics_port=_port("METRICS_PORT", env.get("METRICS_PORT")),
        outbox_per_second=float(
            _number(
                "OUTBOX_PER_SECOND",
                env.get("OUTBOX_PER_SECOND"),
                OUTBOX_PER_SECOND,
                low=1,
                high=10_000,
            )
        ),
        outbox_lease_seconds=_number(
            "OUTBOX_LEASE_SECONDS",
            env.get("OUTBOX_LEASE_SECONDS"),
            OUTBOX_LEASE_SECONDS,
            low=5,
            high=3600,
        ),
        outbox_concurrency=(
            _number("OUTBOX_CONCURRENCY", env.get("OUTBOX_CONCURRENCY"), 1, low=1, high=64)
            if _blank_to_none(env.get("OUTBOX_CONCURRENCY"))
            else None
        ),
    )


def unusable_database(url: str, error: BaseException) -> ConfigError:
    """One line for a database that could not be reached or migrated, password hidden."""
    from sqlalchemy.engine import make_url

    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    where = make_url(url).render_as_string(hide_password=True)
    return ConfigError(
        "DATABASE_URL",
        f"could not be used ({reason[:200]})",
        f"check that the database at {where} is running and reachable",
    )


def default_database_url(base_dir: Path | None = None) -> str:
    path = (base_dir or Path.cwd()) / DEFAULT_SQLITE_PATH
    return f"sqlite+aiosqlite:///{path}"


def _digits(text: str) -> bool:
    """Only 0-9: str.isdigit() also accepts "²", which int() refuses."""
    return text.isascii() and text.isdigit()


def _blank_to_none(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()


def _database_url(raw: str | None) -> str:
    value = _blank_to_none(raw)
    if value is None:
        return default_database_url()
    fix = (
        "use sqlite+aiosqlite:///path/to/kinfolk.db or "
        "postgresql+asyncpg://user:password@host:5432/dbname"
    )
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme in ("sqlite", "postgresql", "postgres"):
        raise ConfigError("DATABASE_URL", f"uses the synchronous driver '{scheme}'", fix)
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError("DATABASE_URL", "is not a supported database URL", fix)
    return value


def _encryption_keys(raw: str | None) -> tuple[str, ...]:
    value = _blank_to_none(raw)
    if value is None:
        return ()
    from bot.db.crypto import is_valid_key

    keys = tuple(part.strip() for part in value.split(",") if part.strip())
    for position, key in enumerate(keys, start=1):
        if not is_valid_key(key):
            raise ConfigError(
                "ENCRYPTION_KEY",
                f"has an invalid key (number {position} in the list)",
                "each key must be one printed by `kinfolk keygen`; separate several with commas",
            )
    return keys


def _flag(name: str, raw: str | None) -> bool:
    value = (_blank_to_none(raw) or "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ConfigError(name, f"is '{raw}'", "use true or false")
    return value in ("true", "1", "yes", "on")


def _shards(
    raw_count: str | None, raw_ids: str | None
) -> tuple[int | None, tuple[int, ...] | None]:
    """SHARD_COUNT (a positive number) and SHARD_IDS ("0,1", "2-3", or a mix), validated
    together: every id must be below the count, and ids need a count. (count, ids)."""
    count_text, ids_text = _blank_to_none(raw_count), _blank_to_none(raw_ids)
    count: int | None = None
    if count_text is not None:
        if not _digits(count_text) or not 0 < int(count_text) <= 100_000:
            raise ConfigError(
                "SHARD_COUNT", f"is '{count_text}'", "use a whole number of shards, such as 2"
            )
        count = int(count_text)
    if ids_text is None:
        return count, None
    if count is None:
        raise ConfigError(
            "SHARD_IDS",
            "is set without SHARD_COUNT",
            "set SHARD_COUNT to the number of shards all processes run together",
        )
    ids: set[int] = set()
    fix = f"list shard numbers from 0 to {count - 1}, such as 0,1 or 0-3"
    for part in (p.strip() for p in ids_text.split(",")):
        low, dash, high = part.partition("-")
        if not _digits(low.strip()) or (dash and not _digits(high.strip())):
            raise ConfigError("SHARD_IDS", f"is '{ids_text}'", fix)
        first, last = int(low), int(high or low)
        if first > last or last >= count:
            raise ConfigError("SHARD_IDS", f"has '{part}', outside 0 to {count - 1}", fix)
        ids.update(range(first, last + 1))
    return count, tuple(sorted(ids))


def _number(name: str, raw: str | None, default: int, *, low: int, high: int) -> int:
    value = _blank_to_none(raw)
    if value is None:
        return default
    if not _digits(value) or not low <= int(value) <= high:
        raise ConfigError(name, f"is '{value}'", f"use a whole number from {low} to {high}")
    return int(value)


def _port(name: str, raw: str | None) -> int | None:
    value = _blank_to_none(raw)
    if value is None:
        return None
    if not _digits(value) or not 0 < int(value) < 65536:
        raise ConfigError(name, f"is '{value}'", "use a port number from 1 to 65535, such as 9108")
    return int(value)


def _log_level(raw: str | None) -> str:
    value = (_blank_to_none(raw) or "INFO").upper()
    if value not in LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"is '{raw}'", f"use one of {', '.join(LOG_LEVELS)}")
    return value


def _snowflake(name: str, raw: str | None) -> int | None:
    value = _blank_to_none(raw)
    if value is None:
        return None
    if not _digits(value) or not 0 < int(value) < 2**64:
        raise ConfigError(
            name,
            f"is '{value}', not a Discord id",
            "turn on Developer Mode in Discord, right-click the server and Copy Server ID",
        )
    return int(value)


def _http_url(name: str, raw: str | None, schemes: tuple[str, ...]) -> str | None:
    value = _blank_to_none(raw)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(
            name, f"is '{value}'", f"give a full URL starting with {' or '.join(schemes)}://"
        )
    return value.rstrip("/")
