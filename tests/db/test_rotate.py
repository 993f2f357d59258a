"""Key rotation on both backends: every encrypted column is re-encrypted with the newest key,
a batch at a time, so the old key can be removed; and `kinfolk rotate-key` end to end."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Text, select, text, type_coerce

from bot.db import migrate
from bot.db.crypto import EncryptionKeyMissing, configure_keys, generate_key
from bot.db.engine import Database
from bot.db.models import Checkin, CirclePerson, SupportOffer, SupportRequest, ThinkingNote
from bot.db.rotate import encrypted_columns, rotate_all
from bot.services.privacy import pseudonyms
from tests.test_cli import kinfolk

KEY_A, KEY_B, KEY_C = generate_key(), generate_key(), generate_key()
WHEN = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
GUILDS = (811_000_000_000_000_101, 811_000_000_000_000_102)
USERS = (700_000_000_000_000_001, 700_000_000_000_000_002, 700_000_000_000_000_003)


@pytest.fixture(autouse=True)
def restore_key(encryption_key: str) -> Iterator[None]:
    """These tests change the process's keys; put the run's key back afterwards."""
    yield
    configure_keys([encryption_key])


# One row of each table: (guild, user, text) -> model instance. Five rows per table, the
# middle one with no text, spread over two servers so composite keys span batches.
ROWS: list[tuple[int, int, str | None]] = [
    (GUILDS[0], USERS[0], "couldn't sleep again"),
    (GUILDS[0], USERS[1], "Ängste, 不安, 🌧️ and a long line " + "x" * 300),
    (GUILDS[0], USERS[2], None),
    (GUILDS[1], USERS[0], "new meds, feeling flat"),
    (GUILDS[1], USERS[2], '["grief", "night shifts"]'),
]

FACTORIES: dict[str, Callable[[int, int, str | None], Any]] = {
    "checkins": lambda g, u, text: Checkin(
        guild_id=g, user_id=u, mood=2, note=text, local_day=date(2026, 1, 5), created_at=WHEN
    ),
    "circle_people": lambda g, u, text: CirclePerson(
        guild_id=g,
        user_id=u,
        kind="emotional",
        person_name=text,
        professional=False,
        created_at=WHEN,
    ),
    "support_offers": lambda g, u, text: SupportOffer(
        guild_id=g, user_id=u, kinds=["emotional"], topics=text, updated_at=WHEN
    ),
    "support_requests": lambda g, u, text: SupportRequest(
        guild_id=g,
        member_id=u,
        urgency="chat",
        status="resolved",
        context=text,
        generation=0,
        created_at=WHEN,
        updated_at=WHEN,
    ),
    "thinking_notes": lambda g, u, text: ThinkingNote(
        guild_id=g,
        sender_id=u,
        recipient_id=USERS[0] if u != USERS[0] else USERS[1],
        note=text,
        anonymous=False,
        status="sent",
        created_at=WHEN,
    ),
}
TEXTS = sum(text is not None for _, _, text in ROWS)


def test_the_rows_here_cover_every_encrypted_column() -> None:
    """A new encrypted column needs a row in this test."""
    found = {table.name: names for table, names in encrypted_columns()}
    assert found == {
        "checkins": ["note"],
        "circle_people": ["person_name"],
        "support_offers": ["topics"],
        "support_requests": ["context"],
        "thinking_notes": ["note"],
        "deployment_secrets": ["value"],  # never empty: tested on its own below
    }
    assert set(FACTORIES) == set(found) - {"deployment_secrets"}


async def _store(db: Database) -> None:
    async with db.session() as session:
        for factory in FACTORIES.values():
            for guild, user, text in ROWS:
                session.add(factory(guild, user, text))


Raw = dict[str, dict[tuple[Any, ...], str | None]]


async def _raw(db: Database) -> Raw:
    """The stored tokens, undecrypted, by table and primary key."""
    found: Raw = {}
    async with db.session() as session:
        for table, names in encrypted_columns():
            if table.name not in FACTORIES:
                continue
            [name] = names
            keys = list(table.primary_key.columns)
            rows = await session.execute(
                select(*keys, type_coerce(table.c[name], Text).label("token"))
            )
            found[table.name] = {tuple(r[:-1]): r.token for r in rows.all()}
    return found


async def _plain(db: Database) -> dict[str, dict[tuple[Any, ...], str | None]]:
    """The values as the bot reads them (through the encrypted column type)."""
    found: dict[str, dict[tuple[Any, ...], str | None]] = {}
    async with db.session() as session:
        for table, names in encrypted_columns():
            if table.name not in FACTORIES:
                continue
            [name] = names
            keys = list(table.primary_key.columns)
            rows = await session.execute(select(*keys, table.c[name]))
            found[table.name] = {tuple(r[:-1]): r[-1] for r in rows.all()}
    return found


def _decrypts_with(key: str, token: str) -> str | None:
    try:
        return Fernet(key.encode()).decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def _expected_plain() -> list[str | None]:
    return sorted((text for _, _, text in ROWS), key=lambda t: t or "")


@pytest.mark.parametrize("batch", [1, 2, 5, 500])
async def test_rotation_re_encrypts_every_value_with_the_new_key(db: Database, batch: int) -> None:
    configure_keys([KEY_A])
    await _store(db)
    before = await _raw(db)
    plain = await _plain(db)
    for table, values in plain.items():
        assert sorted(values.values(), key=lambda t: t or "") == _expected_plain(), table
    for table, tokens in before.items():
        for key, token in tokens.items():
            if token is not None:
                assert _decrypts_with(KEY_A, token) == plain[table][key]
                assert plain[table][key] not in token  # stored encrypted

    configure_keys([KEY_B, KEY_A])
    counts = await rotate_all(db, batch=batch)

    assert counts == dict.fromkeys(FACTORIES, TEXTS)
    after = await _raw(db)
    assert {t: set(v) for t, v in after.items()} == {t: set(v) for t, v in before.items()}
    for table, tokens in after.items():
        for key, token in tokens.items():
            if before[table][key] is None:
                assert token is None  # nothing was invented for an empty value
                continue
            assert token is not None
            assert token != before[table][key]
            assert _decrypts_with(KEY_B, token) == plain[table][key]
            assert _decrypts_with(KEY_A, token) is None

    # The old key is gone: everything still reads the same.
    configure_keys([KEY_B])
    assert await _plain(db) == plain
    async with db.session() as session:
        notes = sorted((c.note or "") for c in (await session.scalars(select(Checkin))).all())
    assert notes == [t or "" for t in _expected_plain()]


async def test_rotating_again_is_harmless(db: Database) -> None:
    configure_keys([KEY_A])
    await _store(db)
    plain = await _plain(db)
    configure_keys([KEY_B, KEY_A])
    await rotate_all(db, batch=2)
    first = await _raw(db)
    assert await rotate_all(db, batch=2) == dict.fromkeys(FACTORIES, TEXTS)
    second = await _raw(db)
    configure_keys([KEY_B])
    assert await _plain(db) == plain
    changed = [
        (t, k) for t, tokens in second.items() for k, v in tokens.items() if v != first[t][k]
    ]
    assert len(changed) == TEXTS * len(FACTORIES)  # Fernet tokens are fresh each time


async def test_an_empty_database_has_nothing_to_rotate(db: Database) -> None:
    configure_keys([KEY_B, KEY_A])
    assert await rotate_all(db) == {}


async def test_a_value_under_a_key_no_longer_listed_stops_the_rotation(db: Database) -> None:
    configure_keys([KEY_A])
    await _store(db)
    before = await _raw(db)
    configure_keys([KEY_B, KEY_C])
    with pytest.raises(EncryptionKeyMissing):
        await rotate_all(db, batch=2)
    assert await _raw(db) == before  # the failing batch changed nothing


# --- the command line ------------------------------------------------------------------------


async def _file_database(path: Path) -> str:
    """A SQLite file migrated the way `kinfolk db upgrade` does, holding rows under key A."""
    url = f"sqlite+aiosqlite:///{path}"
    database = Database(url)
    try:
        await migrate.upgrade(database)
        configure_keys([KEY_A])
        await _store(database)
    finally:
        await database.close()
    return url


async def _read(url: str, reader: Callable[[Database], Any]) -> Any:
    database = Database(url)
    try:
        return await reader(database)
    finally:
        await database.close()


async def test_kinfolk_rotate_key_end_to_end(tmp_path: Path) -> None:
    url = await _file_database(tmp_path / f"kinfolk-{uuid.uuid4().hex}.db")
    plain = await _read(url, _plain)
    before = await _read(url, _raw)

    result = kinfolk(
        "rotate-key", cwd=tmp_path, DATABASE_URL=url, ENCRYPTION_KEY=f"{KEY_B},{KEY_A}"
    )

    assert result.returncode == 0, result.stderr
    total = TEXTS * len(FACTORIES)
    assert result.stdout.strip().splitlines() == [
        f"Re-encrypted {total} values with the first key in ENCRYPTION_KEY "
        f"(checkins {TEXTS}, circle_people {TEXTS}, support_offers {TEXTS}, "
        f"support_requests {TEXTS}, thinking_notes {TEXTS}).",
        "The other key is no longer needed for stored text: you can remove it.",
    ]
    for key in (KEY_A, KEY_B):
        assert key not in result.stdout + result.stderr

    after = await _read(url, _raw)
    for table, tokens in after.items():
        for key, token in tokens.items():
            if token is not None:
                assert token != before[table][key]
                assert _decrypts_with(KEY_B, token) == plain[table][key]
                assert _decrypts_with(KEY_A, token) is None
    configure_keys([KEY_B])  # the old key removed, as step 4 of PRIVACY.md says
    assert await _read(url, _plain) == plain

    # Run again with only the new key: it still reads, and says nothing about other keys.
    again = kinfolk("rotate-key", cwd=tmp_path, DATABASE_URL=url, ENCRYPTION_KEY=KEY_B)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines() == [
        f"Re-encrypted {total} values with the first key in ENCRYPTION_KEY "
        f"(checkins {TEXTS}, circle_people {TEXTS}, support_offers {TEXTS}, "
        f"support_requests {TEXTS}, thinking_notes {TEXTS}).",
    ]
    assert await _read(url, _plain) == plain


async def test_kinfolk_rotate_key_without_the_old_key_says_so_and_changes_nothing(
    tmp_path: Path,
) -> None:
    url = await _file_database(tmp_path / f"kinfolk-{uuid.uuid4().hex}.db")
    before = await _read(url, _raw)

    result = kinfolk("rotate-key", cwd=tmp_path, DATABASE_URL=url, ENCRYPTION_KEY=KEY_B)

    assert result.returncode == 2
    # One line for the operator (after the migration's log lines).
    [line] = [x for x in result.stderr.splitlines() if x.startswith("kinfolk:")]
    assert result.stderr.strip().splitlines()[-1] == line
    assert line.startswith("kinfolk: stored text cannot be decrypted")
    assert "Keep the key the text was written with in ENCRYPTION_KEY" in line
    assert "Traceback" not in result.stderr
    assert KEY_B not in result.stdout + result.stderr
    assert await _read(url, _raw) == before


async def test_kinfolk_rotate_key_on_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = kinfolk("rotate-key", cwd=tmp_path, DATABASE_URL=url, ENCRYPTION_KEY=KEY_B)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "Re-encrypted 0 values with the first key in ENCRYPTION_KEY (nothing stored yet)."
    ]
    assert (tmp_path / "fresh.db").exists()  # migrated first


async def test_pseudonyms_stay_the_same_across_a_rotation(db: Database) -> None:
    """The pseudonym secret is encrypted like every member's words, and rotated with them:
    the same secret, so a block against an erased member still matches afterwards."""
    configure_keys([KEY_A])
    async with db.session() as session:
        before = await pseudonyms.tombstone(session, GUILDS[0], USERS[0], now=WHEN)
        raw_a = (await session.execute(text("SELECT value FROM deployment_secrets"))).scalar_one()
    configure_keys([KEY_B, KEY_A])
    assert (await rotate_all(db))["deployment_secrets"] == 1
    configure_keys([KEY_B])
    async with db.session() as session:
        after = await pseudonyms.tombstone(session, GUILDS[0], USERS[0], now=WHEN)
        raw_b = (await session.execute(text("SELECT value FROM deployment_secrets"))).scalar_one()
    assert after == before
    assert raw_b != raw_a
    assert _decrypts_with(KEY_B, raw_b) == _decrypts_with(KEY_A, raw_a)


async def test_words_written_while_rotation_runs_are_never_lost(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member adds words between rotation's read and its write. On PostgreSQL that write
    commits in between (nothing locks the row); rotation must notice that the token changed,
    leave the new words in place and rotate them in turn. On SQLite the batch is one locked
    write (BEGIN IMMEDIATE), so the member's write waits for it and lands afterwards."""
    configure_keys([KEY_A])
    await _store(db)
    async with db.session() as session:
        target = (await session.scalars(select(Checkin).where(Checkin.note.is_not(None)))).first()
        assert target is not None
        target_id, old_words = target.id, target.note
    configure_keys([KEY_B, KEY_A])
    async with db.session() as session:
        [old_token] = (
            await session.execute(
                select(type_coerce(Checkin.__table__.c.note, Text)).where(Checkin.id == target_id)
            )
        ).scalars()

    async def member_edits() -> None:
        async with db.session() as session:
            row = await session.get(Checkin, target_id)
            assert row is not None
            row.note = "and one more thing I wanted to say"

    from bot.db import rotate as rotation

    edits: list[asyncio.Task[None]] = []
    # Let the member's write run while the batch holding the target is between its read and
    # its writes.
    original_rotate_rows = rotation._rotate_rows

    async def rows_with_a_pause(session: Any, table: Any, names: Any, rows: Any) -> Any:
        if table.name == "checkins" and any(r.note == old_token for r in rows) and not edits:
            # Another request's task: not inside rotation's unit of work.
            loop = asyncio.get_running_loop()
            edits.append(loop.create_task(member_edits(), context=contextvars.Context()))
            await asyncio.wait(edits, timeout=1)  # PostgreSQL: it commits; SQLite: it waits
            if db.backend == "postgresql":
                assert edits[0].done(), "the member's write should commit in between"
        return await original_rotate_rows(session, table, names, rows)

    monkeypatch.setattr(rotation, "_rotate_rows", rows_with_a_pause)
    await rotate_all(db, batch=500)
    await asyncio.gather(*edits)
    assert edits, "the member's write never happened"

    configure_keys([KEY_B])  # every value is under the new key, the member's words too
    async with db.session() as session:
        row = await session.get(Checkin, target_id)
        assert row is not None
        assert row.note == "and one more thing I wanted to say"
        assert row.note != old_words
    plain = await _plain(db)
    assert len(plain["checkins"]) == len(ROWS)
