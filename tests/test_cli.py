"""The `kinfolk` command line, run as a real process the way an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.db.crypto import generate_key, is_valid_key
from tests.fakediscord import FakeDiscord
from tests.test_config import TOKEN

ROOT = Path(__file__).resolve().parents[1]
# The console script installed beside this interpreter, exactly as an operator runs it.
KINFOLK = str(Path(sys.executable).parent / "kinfolk")
KEY = generate_key()


# Settings an operator's shell may hold: a `kinfolk` process started by a test must not
# inherit them.
SETTING_PREFIXES = ("DISCORD_", "DATABASE_", "SHARD_", "OUTBOX_", "METRICS_", "MEMBERS_", "DEV_")


def kinfolk_env(fake: FakeDiscord | None = None, **settings: str) -> dict[str, str]:
    """The environment for a `kinfolk` process: this one's without Kinfolk's settings, then
    the stand-in's endpoints and token (when given), then `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    if fake is not None:
        env.update(
            DISCORD_TOKEN=fake.token,
            DISCORD_API_BASE=fake.api_base,
            DISCORD_GATEWAY_URL=fake.gateway_url,
        )
    env.update(settings)
    env["PYTHONPATH"] = str(ROOT)
    return env


def kinfolk(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = kinfolk_env(**env)
    return subprocess.run(
        [KINFOLK, *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_without_a_token_says_so_in_one_line(tmp_path: Path) -> None:
    result = kinfolk("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kinfolk: DISCORD_TOKEN is not set: put your bot token in .env "
        "(copy .env.example) or in the environment"
    ]
    assert "Traceback" not in result.stderr


def test_python_dash_m_bot_is_kinfolk_run(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")}
    clean["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DISCORD_TOKEN is not set" in result.stderr


def test_bad_setting_in_dotenv_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\nLOG_LEVEL=loud\n")
    result = kinfolk("check", cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("kinfolk: LOG_LEVEL is 'loud'")


def test_run_without_an_encryption_key_says_so_in_one_line(tmp_path: Path) -> None:
    result = kinfolk("run", cwd=tmp_path, DISCORD_TOKEN=TOKEN)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kinfolk: ENCRYPTION_KEY is not set: run `kinfolk keygen` and put the key it prints "
        "in .env as ENCRYPTION_KEY=…"
    ]


def test_keygen_prints_a_fresh_valid_key(tmp_path: Path) -> None:
    first = kinfolk("keygen", cwd=tmp_path).stdout.strip()
    second = kinfolk("keygen", cwd=tmp_path).stdout.strip()
    assert is_valid_key(first)
    assert is_valid_key(second)
    assert first != second


def test_db_upgrade_then_check(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\nENCRYPTION_KEY={KEY}\n")
    before = kinfolk("check", cwd=tmp_path)
    assert before.returncode == 1
    assert "run `kinfolk db upgrade`" in before.stdout
    upgrade = kinfolk("db", "upgrade", cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert (tmp_path / "data" / "kinfolk.db").exists()
    after = kinfolk("check", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "Schema: up to date" in after.stdout
    assert TOKEN not in after.stdout + after.stderr + upgrade.stdout + upgrade.stderr
    assert KEY not in after.stdout + after.stderr


@pytest.mark.parametrize("command", [("db", "upgrade"), ("run",), ("check",)])
def test_unreachable_database_is_one_line_without_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = kinfolk(
        *command,
        cwd=tmp_path,
        DISCORD_TOKEN=TOKEN,
        ENCRYPTION_KEY=KEY,
        DATABASE_URL="postgresql+asyncpg://kinfolk:s3cret@127.0.0.1:1/nowhere",
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("kinfolk: DATABASE_URL could not be used")
    assert "s3cret" not in result.stderr


def test_invite_url_from_the_token(tmp_path: Path) -> None:
    result = kinfolk("invite-url", cwd=tmp_path, DISCORD_TOKEN=TOKEN)
    assert result.returncode == 0
    url = result.stdout.splitlines()[0]
    # The token's first part is base64 of the application id 123456789012345678.
    assert url.startswith("https://discord.com/oauth2/authorize?client_id=123456789012345678&")
    assert "scope=bot+applications.commands" in url
    assert "Create Private Threads" in result.stdout


@pytest.mark.parametrize("args", [(), ("invite-url",)])
def test_usage_errors_exit_nonzero(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = kinfolk(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
