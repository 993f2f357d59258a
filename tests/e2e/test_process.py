"""`kinfolk run` as a real process against the stand-in: serve, then stop on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

from bot.db import migrate
from tests.e2e.conftest import Haven
from tests.fakediscord import FakeDiscord
from tests.test_cli import KEY, KINFOLK, kinfolk_env


async def test_run_serves_and_stops_cleanly_on_sigterm(
    fake: FakeDiscord, haven: Haven, tmp_path: Path
) -> None:
    database = tmp_path / "kinfolk.db"
    env = kinfolk_env(
        fake,
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        LOG_LEVEL="DEBUG",
        ENCRYPTION_KEY=KEY,
    )
    process = await asyncio.create_subprocess_exec(
        KINFOLK,
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        await fake.wait_ready(timeout=30)
        await fake.wait_commands_synced(timeout=30)
        handle = await fake.invoke(haven.guild_id, haven.general_id, haven.member.id, "about")
        assert (await handle.original_message()).embeds[0]["title"] == "Kinfolk"
        # Once ready, the start-up heap is left out of later full collections (bot.heap).
        async with asyncio.timeout(30):
            while not any("start-up heap frozen" in line for line in lines):
                lines.append((await process.stdout.readline()).decode())
        process.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = "".join(lines) + (await process.stdout.read()).decode()
    assert returncode == 0, output
    assert "DISCORD_API_BASE is set" in output
    assert "DISCORD_GATEWAY_URL is set" in output
    assert "stopped cleanly" in output
    assert "Traceback" not in output
    assert fake.token not in output
    assert KEY not in output
    # At DEBUG, the payload loggers stay at INFO: no event bodies, no SQL parameters.
    assert "WebSocket Event" not in output
    assert "aiosqlite: executing" not in output
    with sqlite3.connect(database) as connection:
        [(revision,)] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert revision == migrate.head_revision()
