"""The database handle: engine set-up per backend and one session per unit of work.

SQLite is tuned for a bot that writes from many coroutines at once: WAL (readers never
block the writer), foreign keys on, a long busy timeout, and every transaction opened with
`BEGIN IMMEDIATE`. A deferred transaction that reads and then writes can fail at once with
"database is locked" when another writer got in between (the busy timeout does not apply to
that upgrade); taking the write lock up front makes writers queue instead.

Within one process, SQLite units of work also queue on an asyncio lock before BEGIN: SQLite
admits one writer at a time anyway, and waiting on the lock costs nothing, whereas waiting
inside SQLite's busy handler sleeps in growing steps (measured: p99 1.4 s at 50 writers
without the lock). The busy timeout still covers other processes sharing the file.

Read-only units (`Database.read`) on a SQLite file use an engine of their own on the same file,
whose connections are `query_only` from the start: a pooled connection never switches between
reading and writing, which cost two PRAGMAs each way (issue 18). Short reads
(`Database.lookup`: a few rows by key, what one interaction or one outbox message needs) have a
third engine, whose connections run on the event loop's thread as write units do.

The bot copies SQLite's write-ahead log back into the database file itself (a checkpoint),
beside the writers, instead of leaving it to SQLite inside the commit that crosses 1,000
pages: there it held the writer lock for up to 50 ms (benchmarks/RESULTS.md, erasure).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
READ_ONLY = "kinfolk_read_only"
# The kinds of SQLite engine a `Database` has on one file (see `create_engine`).
WRITER, READER, LOOKUP = "writer", "reader", "lookup"


class DatabaseClosing(RuntimeError):
    """Raised when new work is asked of a database that is shutting down."""


# Set while a unit of work is open in this task, to catch nesting (a deadlock on SQLite).
_in_unit_of_work: ContextVar[bool] = ContextVar("kinfolk_in_unit_of_work", default=False)


# PostgreSQL's answers while it shuts down or starts up (admin_shutdown, crash_shutdown,
# cannot_connect_now); SQLSTATE class 08 is "connection exception".
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")


def is_unreachable(error: BaseException) -> bool:
    """True when the database could not be reached (down, restarting, timed out), as opposed
    to a bug: the member is asked to try again rather than shown an error id."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = str(getattr(error.orig, "sqlstate", None) or "")
        if sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES:
            return True
    return isinstance(error, OperationalError | ConnectionError | TimeoutError)


# PostgreSQL: how long to wait for a new connection, and (for the running bot) for any one
# statement and for a free pooled connection. Without them a database that accepts but never
# answers stalls the outbox and the activity flusher until the OS gives up on the socket.
PG_CONNECT_TIMEOUT_SECONDS = 3.0
PG_STATEMENT_TIMEOUT_SECONDS = 10.0
PG_POOL_TIMEOUT_SECONDS = 5.0
# Connections per process (and extra ones for bursts): the default 5 + 10 made units of work
# wait 1.5-2 s for a connection at 100 interactions a second (benchmarks/RESULTS.md).
PG_POOL_SIZE, PG_POOL_OVERFLOW = 10, 20

# SQLite on disk: after a unit of work that wrote, the WAL is checkpointed (PASSIVE: it waits
# for nobody) in a thread, outside the writer lock, at most this often.
CHECKPOINT_EVERY_SECONDS = 0.25
# A WAL this long (pages; about 16 MB) after a checkpoint beside the writers means writes kept
# arriving while each one ran, so SQLite never got to start the log again: a last pass then
# copies back the little written since, holding the writer lock, which lets the next writer
# start the log afresh and keeps the file bounded. (Holding the lock for the whole checkpoint
# instead held writers for up to 418 ms during the outbox purge; a second pass straight after
# the first, for up to 296 ms: what the purge wrote during a long first pass, and its fsyncs.)
CHECKPOINT_LONG_WAL_PAGES = 4000
# ... after up to this many passes beside the writers, each copying what was written during
# the one before, until at most this many pages (1 MB) are left for the pass that holds them.
CHECKPOINT_MAX_PASSES, CHECKPOINT_TAIL_PAGES = 4, 256
# A bulk background writer waits at most this long for a checkpoint to end (give_way...).
GIVE_WAY_SECONDS = 1.0


def create_engine(
    url: str,
    connect_args: dict[str, Any] | None = None,
    *,
    timeouts: bool = False,
    role: str = WRITER,
) -> AsyncEngine:
    """`role` (SQLite): READER for an engine whose connections only ever read
    (`Database.read`), LOOKUP for one that only reads, on the event loop's thread
    (`Database.lookup`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, role=role)
    args: dict[str, Any] = {"timeout": PG_CONNECT_TIMEOUT_SECONDS}
    options: dict[str, Any] = {}
    if timeouts:
        args["command_timeout"] = PG_STATEMENT_TIMEOUT_SECONDS
        options.update(
            pool_timeout=PG_POOL_TIMEOUT_SECONDS,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_POOL_OVERFLOW,
        )
    args.update(connect_args or {})
    return create_async_engine(url, pool_pre_ping=True, connect_args=args, **options)


# The database holds health data: its files are the owner's alone, whatever the umask.
OWNER_ONLY = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def owner_only(path: str | Path) -> None:
    """Create `path` if missing, readable and writable by its owner only, and make the
    SQLite files beside it (-wal, -shm, -journal) so too where they exist. SQLite gives the
    files it makes the database file's mode, so setting it before the first connection is
    what keeps a permissive umask (0022: world-readable) away from them."""
    base = os.fspath(path)
    fd = os.open(base, os.O_CREAT | os.O_RDWR, OWNER_ONLY)
    os.close(fd)
    for suffix in SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(base + suffix, OWNER_ONLY)


def sqlite_file(url: str) -> str | None:
    """The file of an SQLite database URL, or None (PostgreSQL, in memory, a `file:` URI)."""
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    return None if path.startswith("file:") else path


def sync_file(path: str) -> None:
    """fsync `path` if it exists."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_wal(path: str) -> tuple[int, int]:
    """Copy what the WAL holds into the database file, waiting for nobody (PASSIVE), on a
    connection of its own; returns the WAL's length in pages and how many of them are still
    to copy (written while it ran, or held by a reader)."""
    connection = sqlite3.connect(path, timeout=0)
    try:
        _busy, pages, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        connection.close()
    return int(pages), max(int(pages) - int(copied), 0)


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, able to run its calls on the calling thread (the event loop)
    instead of handing each to its worker thread and waiting for the loop to come back.

    A unit of work that writes holds SQLite's one writer from BEGIN to COMMIT. Handed to the
    worker thread, every statement, fetch and cursor close is a round trip that resumes only
    when the event loop reaches it behind everything else ready to run, so under load the
    writer was held for many loop turns and the hold grew with the load (issue 18: p50 39 ms
    held, 8 s waited at 100 mood clicks a second). Inline, a write unit runs from BEGIN to
    COMMIT in one go, for as long as its SQL and Python take (a local file, no network).
    Reads (`Database.read`), which may be long and hold no writer, stay on the thread."""

    inline = False

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.inline and self._running and self._connection is not None:
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)


def _locked(error: BaseException) -> bool:
    orig = getattr(error, "orig", error)
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def _sqlite_engine(url: str, *, role: str = WRITER) -> AsyncEngine:
    path = sqlite_file(url)  # None: in memory (tests) or a `file:` URI
    reader = role in (READER, LOOKUP)
    if path is not None:
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        file = path

        async def connect() -> InlineConnection:
            def connector() -> sqlite3.Connection:
                # check_same_thread off: an inline call runs on the loop's thread; calls are
                # never concurrent (each completes before the next is made).
                return sqlite3.connect(
                    file, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
                )

            connection = InlineConnection(connector, iter_chunk_size=64)
            connection._thread.daemon = True
            await connection  # opens the file (on its thread); the connection is itself
            return connection

        engine = create_async_engine(url, async_creator=connect)
    else:
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "do_connect")
    def _before_connect(*_args: Any) -> None:
        if path is not None:
            # Before SQLite opens (and would create) the file: a new database is born the
            # owner's alone, and an older one (or one copied in) is made so.
            owner_only(path)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself, instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        if path is not None:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # the Database checkpoints
        if reader:
            # A reader's connections stay readers: a write in one fails loudly.
            cursor.execute("PRAGMA query_only=1")
        if role == LOOKUP:
            # Inline, a wait in SQLite's busy handler would stop the event loop: a lookup
            # that finds the file locked waits on the driver's thread instead (`_begin_lookup`).
            cursor.execute("PRAGMA busy_timeout=0")
            record.info[BUSY_TIMEOUT] = 0
        cursor.close()
        if path is not None:
            owner_only(path)  # the -wal and -shm that journal_mode=WAL has just opened

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if role == LOOKUP:
            _begin_lookup(connection)
            return
        if reader:
            # Nothing to switch: these connections only read, on the driver's thread, with
            # the busy timeout set when they opened (a deferred BEGIN takes no write lock).
            connection.exec_driver_sql("BEGIN")
            return
        # A read-only unit (`Database.read`) takes no write lock: WAL lets it read alongside
        # the one writer.
        read_only = bool(connection.get_execution_options().get(READ_ONLY))
        driver = connection.connection.driver_connection
        inline = isinstance(driver, InlineConnection)
        if inline:
            driver.inline = not read_only
        info = connection.connection.info
        if info.get(READ_ONLY, False) != read_only:
            # query_only makes a write in a read-only unit fail loudly instead of queueing.
            connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            info[READ_ONLY] = read_only
        if read_only:
            _busy_timeout(connection, SQLITE_BUSY_TIMEOUT_MS)
            connection.exec_driver_sql("BEGIN")
            return
        if inline:
            # Waiting for another process's write lock inline would stop the event loop:
            # try without waiting, and if the lock is taken, wait on the worker thread for
            # this unit (the busy timeout), as every unit did before.
            _busy_timeout(connection, 0)
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as error:
                if not _locked(error):
                    raise
            driver.inline = False
            _busy_timeout(connection, SQLITE_BUSY_TIMEOUT_MS)
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _begin_lookup(connection: Any) -> None:
    """Open a lookup's read transaction on the event loop's thread, taking its snapshot of
    the file at once (a deferred BEGIN takes it at the first read) without waiting. In WAL a
    reader is almost never refused (another process recovering the log after a crash, or one
    holding the file in exclusive locking mode); then this lookup waits on the driver's
    thread, for up to the busy timeout, as a `read()` would, and the loop runs on."""
    driver = connection.connection.driver_connection
    inline = isinstance(driver, InlineConnection)
    if inline:
        driver.inline = True
        _busy_timeout(connection, 0)
    connection.exec_driver_sql("BEGIN")
    try:
        connection.exec_driver_sql("PRAGMA schema_version")
        return
    except OperationalError as error:
        if not (inline and _locked(error)):
            raise
    driver.inline = False
    _busy_timeout(connection, SQLITE_BUSY_TIMEOUT_MS)
    connection.exec_driver_sql("PRAGMA schema_version")


BUSY_TIMEOUT = "kinfolk_busy_timeout"


def _busy_timeout(connection: Any, milliseconds: int) -> None:
    info = connection.connection.info
    if info.get(BUSY_TIMEOUT, SQLITE_BUSY_TIMEOUT_MS) != milliseconds:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={milliseconds}")
        info[BUSY_TIMEOUT] = milliseconds


class Database:
    """Owns the engine; hands out one transaction-scoped session per unit of work.

    It counts the units of work in flight so that `close()` can let them finish before the
    engine is disposed (graceful shutdown), and refuses new ones once closing has begun.
    """

    def __init__(
        self, url: str, *, connect_args: dict[str, Any] | None = None, timeouts: bool = False
    ) -> None:
        """`timeouts`: bound every PostgreSQL statement and pool wait (the running bot);
        left off for migrations and maintenance, whose statements may rightly take long."""
        self.url = url
        self.connect_args = connect_args or {}
        self.engine = create_engine(url, self.connect_args, timeouts=timeouts)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # A SQLite file: reads get connections of their own, so that no pooled connection
        # switches between reading and writing (two PRAGMAs each way, issue 18).
        self._read_engine: AsyncEngine | None = None
        self._lookup_engine: AsyncEngine | None = None
        self._read_sessions = self._lookup_sessions = self._sessions
        if sqlite_file(url) is not None:
            self._read_engine = create_engine(url, self.connect_args, role=READER)
            self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)
            self._lookup_engine = create_engine(url, self.connect_args, role=LOOKUP)
            self._lookup_sessions = async_sessionmaker(self._lookup_engine, expire_on_commit=False)
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._sqlite_writer = asyncio.Lock() if self.backend == "sqlite" else None
        self._wal_file = sqlite_file(url)
        self._checkpoint: asyncio.Task[None] | None = None
        self._last_checkpoint = float("-inf")
        self._wal_dirty = False
        self.wal_long = False  # the last checkpoint found SQLite's log long (see above)
        self._round: asyncio.Future[None] | None = None  # the next checkpoint to end

    @property
    def backend(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back if it raises."""
        async with (
            self._unit_of_work(),
            self._sessions() as session,
            # The writer is held from BEGIN to COMMIT only: closing the session afterwards
            # takes SQLAlchemy a few event-loop turns (a shielded task), no lock needed.
            self._sqlite_writer or contextlib.nullcontext(),
            session.begin(),
        ):
            yield session
        if self._wal_file is not None:
            self._wrote(self._wal_file)

    def _wrote(self, path: str) -> None:
        """A unit of work has committed: see that a checkpoint follows it, at most one at a
        time and one every CHECKPOINT_EVERY_SECONDS (a commit inside the interval is
        checkpointed when it ends, so the last write of a burst is not left in the WAL)."""
        self._wal_dirty = True
        if self._checkpoint is None and not self._closing:
            self._checkpoint = asyncio.get_running_loop().create_task(
                self._checkpoint_wal(path), context=contextvars.Context()
            )

    async def _checkpoint_wal(self, path: str) -> None:
        try:
            while self._wal_dirty and not self._closing:
                wait = self._last_checkpoint + CHECKPOINT_EVERY_SECONDS - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    if self._closing:
                        break  # SQLite checkpoints as the engine closes its last connection
                self._wal_dirty = False
                self._last_checkpoint = time.monotonic()
                try:
                    pages, left = await asyncio.to_thread(checkpoint_wal, path)
                    passes = 1
                    # Writes kept coming while it ran, so the log never starts again and
                    # grows. Copy what came meanwhile (each pass is shorter than the last)
                    # until little is left, then the rest with the writers held: the next
                    # writer starts the log afresh.
                    while (
                        pages >= CHECKPOINT_LONG_WAL_PAGES
                        and left > CHECKPOINT_TAIL_PAGES
                        and passes < CHECKPOINT_MAX_PASSES
                    ):
                        pages, left = await asyncio.to_thread(checkpoint_wal, path)
                        passes += 1
                    held = 0.0
                    # Even with every page copied (left 0) the log is held: the writer that
                    # would start it over cannot while a pass runs beside it (measured: the
                    # WAL grew to twice what was written in tests/db/test_checkpoint.py).
                    self.wal_long = pages >= CHECKPOINT_LONG_WAL_PAGES
                    if self.wal_long and self._sqlite_writer is not None:
                        # The held pass first syncs the log; most of what it would sync
                        # (what was written during the passes beside the writers) is synced
                        # here, before the writers are held (a held pass synced ~12 MB of
                        # log in 60-70 ms during the outbox purge at 1M rows).
                        await asyncio.to_thread(sync_file, path + "-wal")
                        async with self._sqlite_writer:
                            holding = time.monotonic()
                            await asyncio.to_thread(checkpoint_wal, path)
                            held = time.monotonic() - holding
                    log.debug(
                        "WAL checkpoint: %d pass(es), %.1f ms, log %d pages, writers held %.1f ms",
                        passes + (held > 0),
                        (time.monotonic() - self._last_checkpoint) * 1000,
                        pages,
                        held * 1000,
                    )
                except (sqlite3.Error, OSError):
                    # The next commit tries again; SQLite also checkpoints on closing.
                    log.warning("SQLite WAL checkpoint failed", exc_info=True)
                self._round_done()
        finally:
            self._checkpoint = None
            self._round_done()

    async def give_way_to_checkpoint(self) -> None:
        """For bulk background writers (the outbox purge), between their units of work:
        while SQLite's log is long, wait for the checkpoint under way, so that it can copy
        everything back and the log can start over without holding members' writes."""
        if not self.wal_long or self._checkpoint is None:
            return
        if self._round is None or self._round.done():
            self._round = asyncio.get_running_loop().create_future()
        # One checkpoint, not the task: under steady writes it goes on for as long as they do.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._round), GIVE_WAY_SECONDS)

    def _round_done(self) -> None:
        if self._round is not None and not self._round.done():
            self._round.set_result(None)

    async def checkpointed(self) -> None:
        """Wait until the checkpoints that commits so far asked for are done (tests, `close`)."""
        if self._checkpoint is not None:
            await asyncio.shield(self._checkpoint)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that only reads. On SQLite it neither queues for the in-process
        writer lock nor takes SQLite's write lock (a deferred BEGIN: WAL readers run beside
        the writer), so reads are not held up by writes. A write in it fails, on both
        backends (SQLite's query_only, PostgreSQL's READ ONLY transaction)."""
        async with self._reading(self._read_sessions) as session:
            yield session

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[AsyncSession]:
        """A short read: a few rows by key, what one interaction or one outbox message needs
        to know. As `read()`, but on a SQLite file it runs on the event loop's thread, as a
        write unit does, rather than a round trip to the driver's thread for every call and
        fetch (which cost more than the read itself: issue 18). Nothing long here (a sweep,
        an export, a chart's history): that would hold the loop; use `read()`."""
        async with self._reading(self._lookup_sessions) as session:
            yield session

    @asynccontextmanager
    async def _reading(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> AsyncIterator[AsyncSession]:
        option = {READ_ONLY: True} if self._sqlite_writer else {"postgresql_readonly": True}
        async with self._unit_of_work(), sessions() as session:
            await session.connection(execution_options=option)
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            # Ending it by commit, not rollback, keeps what was read usable after the unit
            # (a rollback would expire it); there is nothing to commit.
            await session.commit()

    @asynccontextmanager
    async def _unit_of_work(self) -> AsyncIterator[None]:
        """Refuse work while closing or nested; count the units in flight for `close()`."""
        if self._closing:
            raise DatabaseClosing("Kinfolk is shutting down")
        if _in_unit_of_work.get():
            raise RuntimeError("a unit of work was opened inside another; pass the session down")
        self._in_flight += 1
        self._idle.clear()
        marker = _in_unit_of_work.set(True)
        try:
            yield
        finally:
            _in_unit_of_work.reset(marker)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def close(self, grace: float = 10.0) -> None:
        """Stop taking work, wait (up to `grace` seconds) for work in flight, then dispose."""
        self._closing = True
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            log.warning("%d database unit(s) of work still running at shutdown", self._in_flight)
        await self.checkpointed()
        for engine in (self._read_engine, self._lookup_engine):
            if engine is not None:
                await engine.dispose()
        await self.engine.dispose()
