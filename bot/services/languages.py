"""Which language a reader gets, when Kinfolk writes to them on its own initiative.

- A member's DM or outbox message: the Discord language they last used in this server
  (stored when they use Kinfolk), else the server's.
- A channel post (an alert, the daily prompt, a milestone): the server's language — the one
  a moderator chose with `/setup language`, else Discord's server language as last seen.
- English when nothing is known.

An interaction's own reply needs none of this: it is in `interaction.locale`
(`bot.ui.language`). Languages seen on interactions are kept in memory and written in one
unit of work every few seconds (`LanguageTracker.flush`, beside participation), and only
when they changed, so a burst of taps costs no extra writes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n
from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import GuildSettings, MemberLanguage
from bot.db.typed import dialect_of
from bot.db.upsert import dialect_insert
from bot.jobs.delivery import QueuedMessage

log = logging.getLogger(__name__)

KNOWN_KEPT = 50_000  # languages remembered per process, most recent first


async def of_server(session: AsyncSession, guild_id: int | None) -> str:
    """The catalog code a channel post in this server is written in."""
    if guild_id is None:
        return i18n.ENGLISH
    row = (
        await session.execute(
            select(GuildSettings.language, GuildSettings.discord_locale).where(
                GuildSettings.guild_id == guild_id
            )
        )
    ).first()
    if row is None:
        return i18n.ENGLISH
    chosen, seen = row
    return i18n.language_for(chosen or seen)


async def of_member(session: AsyncSession, guild_id: int | None, user_id: int) -> str:
    """The catalog code a DM to this member is written in."""
    if guild_id is not None:
        locale = (
            await session.execute(
                select(MemberLanguage.locale).where(
                    MemberLanguage.guild_id == guild_id, MemberLanguage.user_id == user_id
                )
            )
        ).scalar_one_or_none()
        if locale is not None:
            return i18n.language_for(locale)
    return await of_server(session, guild_id)


async def erase_member(session: AsyncSession, guild_id: int, user_id: int) -> None:
    """Forget a member's language (what the privacy registry's sweep deletes, again: for a
    write that was under way as the member was erased)."""
    from sqlalchemy import delete

    await session.execute(
        delete(MemberLanguage).where(
            MemberLanguage.guild_id == guild_id, MemberLanguage.user_id == user_id
        )
    )


class LanguageTracker:
    """Languages seen on interactions, written when they change."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._members: dict[tuple[int, int], str] = {}
        self._servers: dict[int, str] = {}
        self._known: OrderedDict[tuple[int, int], str] = OrderedDict()
        # Members erased while a write of theirs may have been under way: deleted again.
        self._erased: set[tuple[int, int]] = set()

    def __len__(self) -> int:
        return len(self._members) + len(self._servers) + len(self._erased)

    def seen(self, guild_id: int, user_id: int, locale: str, server_locale: str | None) -> None:
        """A member of server `guild_id` used Kinfolk in `locale`; the server's Discord
        language is `server_locale`. Only a change is queued for writing."""
        member = (guild_id, user_id)
        if self._known.get(member) != locale:
            self._members[member] = locale
        else:
            self._members.pop(member, None)  # changed and back before it was written
        if server_locale and self._known.get((guild_id, 0)) != server_locale:
            self._servers[guild_id] = server_locale

    async def flush(self) -> None:
        """Write the languages that changed; kept for the next try if this fails."""
        if not self._members and not self._servers and not self._erased:
            return
        members, self._members = self._members, {}
        servers, self._servers = self._servers, {}
        erased, self._erased = self._erased, set()
        now = self.clock.now()
        try:
            async with self.db.session() as session:
                await _write(session, members, servers, now)
                for guild_id, user_id in sorted(erased):
                    await erase_member(session, guild_id, user_id)
        except BaseException:
            self._members = {**members, **self._members}
            self._servers = {**servers, **self._servers}
            self._erased |= erased
            raise
        for member, locale in members.items():
            if member in self._erased:  # erased while this write was under way
                continue
            self._remember(member, locale)
        for guild_id, locale in servers.items():
            self._remember((guild_id, 0), locale)

    def latest(self, guild_id: int, user_id: int) -> str | None:
        """The language this process last saw the member use (written or not yet)."""
        member = (guild_id, user_id)
        return self._members.get(member) or self._known.get(member)

    def forget(self, guild_id: int, user_id: int) -> None:
        """A member's data was erased: nothing of theirs is written back from memory, and a
        write of theirs under way as they were erased is undone by the next flush."""
        self._members.pop((guild_id, user_id), None)
        self._known.pop((guild_id, user_id), None)
        self._erased.add((guild_id, user_id))

    def _remember(self, key: tuple[int, int], locale: str) -> None:
        self._known[key] = locale
        self._known.move_to_end(key)
        while len(self._known) > KNOWN_KEPT:
            self._known.popitem(last=False)


async def _write(
    session: AsyncSession,
    members: dict[tuple[int, int], str],
    servers: dict[int, str],
    now: datetime,
) -> None:
    insert = dialect_insert(dialect_of(session))
    if members:
        rows = [
            {"guild_id": g, "user_id": u, "locale": locale[:10], "updated_at": now}
            for (g, u), locale in sorted(members.items())
        ]
        statement = insert(MemberLanguage).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[MemberLanguage.guild_id, MemberLanguage.user_id],
                set_={"locale": statement.excluded.locale, "updated_at": now},
            )
        )
    if servers:
        rows = [
            {"guild_id": g, "discord_locale": locale[:10], "created_at": now, "updated_at": now}
            for g, locale in sorted(servers.items())
        ]
        statement = insert(GuildSettings).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[GuildSettings.guild_id],
                set_={"discord_locale": statement.excluded.discord_locale},
            )
        )


class LanguageResolver:
    """The language of each outbox message's reader, for the dispatcher. Servers' languages
    are kept for `SERVER_TTL` seconds (a /setup language in this process takes effect at
    once, `forget_server`; in another process within that time)."""

    SERVER_TTL = 30.0

    def __init__(self, db: Database, clock: Clock, seen: LanguageTracker | None = None) -> None:
        self.db = db
        self.clock = clock
        self.seen = seen
        self._servers: dict[int, tuple[float, str]] = {}

    async def __call__(self, message: QueuedMessage) -> str:
        # A message in a channel that is for one member (their private thread) says so.
        reader = message.payload.get("reader_id")
        if message.target_type == "user" or isinstance(reader, int):
            member = reader if isinstance(reader, int) else message.target_id
            # What this process saw last is newest; the database has what others saw.
            latest = None
            if self.seen is not None and message.guild_id is not None:
                latest = self.seen.latest(message.guild_id, member)
            if latest is not None:
                return i18n.language_for(latest)
            async with self.db.session() as session:
                return await of_member(session, message.guild_id, member)
        return await self.server(message.guild_id)

    async def server(self, guild_id: int | None) -> str:
        if guild_id is None:
            return i18n.ENGLISH
        now = self.clock.now().timestamp()
        cached = self._servers.get(guild_id)
        if cached is not None and now - cached[0] < self.SERVER_TTL:
            return cached[1]
        async with self.db.session() as session:
            language = await of_server(session, guild_id)
        self._servers[guild_id] = (now, language)
        return language

    def forget_server(self, guild_id: int) -> None:
        self._servers.pop(guild_id, None)
