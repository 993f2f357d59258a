"""Which language a reader gets: the member's last-used language for DMs, the server's for
channel posts; written only when it changes, forgotten with the member — on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot import i18n
from bot.db.engine import Database, DatabaseClosing
from bot.db.models import MemberLanguage
from bot.jobs.delivery import QueuedMessage
from bot.services import guild_config, languages
from bot.services.languages import LanguageResolver, LanguageTracker
from tests.helpers import FrozenClock

GUILD = 4242
ANA, BEN = 11, 12


def queued(target_type: str, target_id: int, **payload: Any) -> QueuedMessage:
    return QueuedMessage(1, "k", "plain", GUILD, target_type, target_id, payload, 0)


async def tracker_write(
    session: Any, members: dict[tuple[int, int], str], clock: FrozenClock
) -> None:
    """What a flush writes, as another unit of work (the one under way)."""
    await languages._write(session, members, {}, clock.now())


async def rows(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MemberLanguage)) or 0)


async def test_a_dm_follows_the_member_and_a_post_follows_the_server(
    db: Database, clock: FrozenClock
) -> None:
    tracker = LanguageTracker(db, clock)
    tracker.seen(GUILD, ANA, "es-ES", "fr")
    await tracker.flush()
    resolver = LanguageResolver(db, clock)  # another process: only the database
    assert await resolver(queued("user", ANA)) == "es"
    assert await resolver(queued("user", BEN)) == "fr"  # never seen: the server's
    assert await resolver(queued("channel", 99)) == "fr"
    assert await resolver(queued("channel", 99, reader_id=ANA)) == "es"  # their thread
    # A moderator's choice wins over Discord's server language.
    await guild_config.set_language(db, clock, GUILD, "de", actor_id=1)
    resolver.forget_server(GUILD)
    assert await resolver(queued("channel", 99)) == "de"
    assert await resolver(queued("user", BEN)) == "de"
    assert await resolver(queued("user", ANA)) == "es"


async def test_nothing_known_is_english(db: Database, clock: FrozenClock) -> None:
    resolver = LanguageResolver(db, clock)
    assert await resolver(queued("user", ANA)) == i18n.ENGLISH
    assert await resolver(queued("guild_owner", GUILD)) == i18n.ENGLISH
    async with db.session() as session:
        assert await languages.of_server(session, None) == i18n.ENGLISH


async def test_a_language_is_written_once_and_again_only_when_it_changes(
    db: Database, clock: FrozenClock
) -> None:
    tracker = LanguageTracker(db, clock)
    tracker.seen(GUILD, ANA, "es-ES", None)
    await tracker.flush()
    assert len(tracker) == 0
    for _ in range(50):  # a burst of taps in the same language: nothing more to write
        tracker.seen(GUILD, ANA, "es-ES", None)
    assert len(tracker) == 0
    tracker.seen(GUILD, ANA, "pt-BR", None)
    assert len(tracker) == 1
    await tracker.flush()
    async with db.session() as session:
        assert await languages.of_member(session, GUILD, ANA) == "pt_BR"
    assert await rows(db) == 1


async def test_the_process_that_saw_a_change_uses_it_before_it_is_written(
    db: Database, clock: FrozenClock
) -> None:
    tracker = LanguageTracker(db, clock)
    resolver = LanguageResolver(db, clock, tracker)
    tracker.seen(GUILD, ANA, "it", None)
    assert await resolver(queued("user", ANA)) == "it"
    assert await rows(db) == 0


async def test_an_erased_members_language_is_not_written_back(
    db: Database, clock: FrozenClock
) -> None:
    tracker = LanguageTracker(db, clock)
    tracker.seen(GUILD, ANA, "nl", None)
    await tracker.flush()
    tracker.seen(GUILD, ANA, "de", None)  # the press of "delete" itself was seen
    async with db.session() as session:
        await languages.erase_member(session, GUILD, ANA)
    tracker.forget(GUILD, ANA)
    await tracker.flush()
    assert await rows(db) == 0
    resolver = LanguageResolver(db, clock, tracker)
    assert await resolver(queued("user", ANA)) == i18n.ENGLISH


async def test_a_failed_write_keeps_the_languages_for_the_next_flush(
    db: Database, clock: FrozenClock
) -> None:
    tracker = LanguageTracker(db, clock)
    tracker.seen(GUILD, ANA, "fr", "fr")
    await db.close()
    with pytest.raises(DatabaseClosing):
        await tracker.flush()
    assert len(tracker) == 2


async def test_a_language_changed_and_changed_back_before_the_write_is_not_written(
    db: Database, clock: FrozenClock
) -> None:
    tracker = LanguageTracker(db, clock)
    tracker.seen(GUILD, ANA, "es-ES", None)
    await tracker.flush()
    tracker.seen(GUILD, ANA, "de", None)
    tracker.seen(GUILD, ANA, "es-ES", None)  # back again before the next flush
    assert len(tracker) == 0
    await tracker.flush()
    async with db.session() as session:
        assert await languages.of_member(session, GUILD, ANA) == "es"


async def test_a_write_under_way_as_the_member_is_erased_is_undone_by_the_next_flush(
    db: Database, clock: FrozenClock
) -> None:
    tracker = LanguageTracker(db, clock)
    tracker.seen(GUILD, ANA, "nl", None)
    # The flush's unit of work has written the row when the erasure runs and forgets her.
    async with db.session() as session:
        await tracker_write(session, {(GUILD, ANA): "nl"}, clock)
    tracker.forget(GUILD, ANA)
    assert len(tracker) == 1  # the erasure to repeat
    await tracker.flush()
    assert await rows(db) == 0
    assert tracker.latest(GUILD, ANA) is None
