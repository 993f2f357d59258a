"""The fake gateway: HELLO/IDENTIFY/READY/GUILD_CREATE, heartbeats, RESUME and dispatch.

Speaks the real protocol (including discord.py's default ``zlib-stream`` transport
compression) so the unmodified client's connection, caching and resume logic run exactly
as in production. Dispatches are filtered by the identified intents, like Discord does,
so a bot that forgot an intent sees the same empty events it would in production.

Sharding works as on Discord: each IDENTIFY names a shard ``[shard_id, num_shards]`` (none
means ``[0, 1]``) and several sessions live side by side, one per shard. A guild belongs
to shard ``(guild_id >> 22) % num_shards``: only that shard's session gets it in READY, its
GUILD_CREATE and every event of the guild; events outside any guild (DMs) go to shard 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .payloads import guild_create_payload
from .world import DM, World, shard_of

HEARTBEAT_INTERVAL_MS = 41250
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES = 1 << 0, 1 << 1, 1 << 9, 1 << 12
GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS = 1 << 10, 1 << 13
GUILD_MESSAGE_TYPING, DIRECT_MESSAGE_TYPING, MESSAGE_CONTENT = 1 << 11, 1 << 14, 1 << 15
_GUILD_EVENTS = ("GUILD_", "CHANNEL_", "THREAD_")
# Events whose ``id`` is the guild's own id (they carry no ``guild_id``).
_GUILD_ID_IS_ID = ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE")


@dataclass
class Connection:
    """One websocket; holds its own zlib stream because compression state is per socket."""

    ws: web.WebSocketResponse
    compress: bool
    zlib_ctx: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self.lock:
            if self.ws.closed:
                return
            # A peer that died (SIGKILL) leaves a closing transport before the socket
            # reads as closed: what is lost stays in the session's buffer for a RESUME.
            with contextlib.suppress(ConnectionResetError):
                if self.compress:
                    if self.zlib_ctx is None:
                        self.zlib_ctx = zlib.compressobj()
                    data = self.zlib_ctx.compress(text.encode()) + self.zlib_ctx.flush(
                        zlib.Z_SYNC_FLUSH
                    )
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)


@dataclass
class Session:
    """A gateway session: survives socket drops so RESUME can replay what was missed."""

    session_id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    conn: Connection | None = None

    @property
    def shard_id(self) -> int:
        return self.shard[0] if self.shard else 0

    @property
    def num_shards(self) -> int:
        return self.shard[1] if self.shard else 1

    def owns(self, guild_id: int | None) -> bool:
        """Whether Discord sends this session events of ``guild_id`` (None: not a guild's)."""
        if guild_id is None:
            return self.shard_id == 0
        return shard_of(guild_id, self.num_shards) == self.shard_id


class Gateway:
    """Serves ``GET /`` websockets and routes dispatches to the sessions of their shard."""

    def __init__(self, world: World, token: str, url_getter: Callable[[], str]) -> None:
        self.world = world
        self.token = token
        self._url = url_getter
        # What GET /gateway/bot recommends; AutoShardedBot without a count runs this many.
        self.recommended_shards = 1
        self.sessions: dict[str, Session] = {}
        self.ready = asyncio.Event()
        self.resumed = asyncio.Event()
        self.identify_count = 0
        self.resume_count = 0
        self.received: list[dict[str, Any]] = []  # every op the client sent
        self.connect_queries: list[dict[str, str]] = []  # query string of each connection
        # Futures waiting for a heartbeat from one session (by session id): sync().
        self._heartbeat_waiters: list[tuple[str, asyncio.Future[None]]] = []

    # ----- public ---------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        """The session: the newest one of shard 0 (the only one, unless the bot shards)."""
        sessions = list(self.sessions.values())
        for session in reversed(sessions):
            if session.shard_id == 0:
                return session
        return sessions[-1] if sessions else None

    def shard_session(self, shard_id: int) -> Session | None:
        """The newest session identified for ``shard_id`` (whatever the shard count)."""
        for session in reversed(list(self.sessions.values())):
            if session.shard_id == shard_id:
                return session
        return None

    @property
    def connected_shards(self) -> set[int]:
        """Ids of the shards with a session on an open socket."""
        return {s.shard_id for s in self.sessions.values() if s.conn is not None}

    async def wait_shards(self, shard_ids: Iterable[int], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every shard in ``shard_ids`` has identified, then sync all of them."""
        wanted = set(shard_ids)
        deadline = asyncio.get_running_loop().time() + timeout
        while not wanted <= self.connected_shards:
            if asyncio.get_running_loop().time() > deadline:
                missing = sorted(wanted - self.connected_shards)
                raise AssertionError(f"shard(s) {missing} did not connect within {timeout}s")
            await asyncio.sleep(0.02)
        await self.sync(timeout)

    def guild_of(self, event: str, data: dict[str, Any]) -> int | None:
        """The guild an event belongs to (None for DMs and events of no guild)."""
        if event in _GUILD_ID_IS_ID and data.get("id"):
            return int(data["id"])
        if data.get("guild_id"):
            return int(data["guild_id"])
        channel = self.world.channels.get(int(data.get("channel_id") or 0))
        return channel.guild_id if channel is not None else None

    async def dispatch(self, event: str, data: dict[str, Any]) -> bool:
        """Send a DISPATCH to the session(s) of the event's shard whose intents allow it;
        False if no session got it (filtered, or that shard is not connected)."""
        guild_id = self.guild_of(event, data)
        sent = False
        for session in list(self.sessions.values()):
            if session.owns(guild_id) and await self._send(session, event, data):
                sent = True
        return sent

    async def _send(self, session: Session, event: str, data: dict[str, Any]) -> bool:
        shaped = self._filter(session, event, data)
        if shaped is None:
            return False
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": shaped}
        session.buffer.append(payload)
        if session.conn is not None:
            await session.conn.send(payload)
        return True

    async def drop(self, code: int = 4000, *, shard_id: int | None = None) -> None:
        """Close the socket as Discord does on trouble (every shard's, or one shard's);
        the client should RESUME."""
        self.resumed.clear()
        for session in list(self.sessions.values()):
            if shard_id is not None and session.shard_id != shard_id:
                continue
            conn, session.conn = session.conn, None
            if conn is not None:
                await conn.ws.close(code=code, message=b"dropped by test")

    async def send_op(self, op: int, d: Any = None) -> None:
        for session in self.sessions.values():
            if session.conn is not None:
                await session.conn.send({"op": op, "d": d, "s": None, "t": None})

    async def sync(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Barrier: ask every connected session for a heartbeat (op 1); a client answers
        only after it has processed everything sent before, so every shard's cache is up to
        date afterwards."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for session in list(self.sessions.values()):
            if session.conn is None:
                continue
            fut: asyncio.Future[None] = loop.create_future()
            self._heartbeat_waiters.append((session.session_id, fut))
            futures.append(fut)
            await session.conn.send({"op": 1, "d": None, "s": None, "t": None})
        if futures:
            await asyncio.wait_for(asyncio.gather(*futures), timeout)

    # ----- websocket handler ----------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.connect_queries.append(dict(request.query))
        conn = Connection(ws, compress=request.query.get("compress") == "zlib-stream")
        await conn.send({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                await self._on_message(conn, json.loads(msg.data))
        finally:
            for session in self.sessions.values():
                if session.conn is conn:
                    session.conn = None
        return ws

    async def _on_message(self, conn: Connection, msg: dict[str, Any]) -> None:
        self.received.append(msg)
        op, d = msg.get("op"), msg.get("d")
        if op == 1:
            await conn.send({"op": 11, "d": None})
            mine = {s.session_id for s in self.sessions.values() if s.conn is conn}
            waiting = []
            for session_id, fut in self._heartbeat_waiters:
                if session_id in mine and not fut.done():
                    fut.set_result(None)
                elif not fut.done():
                    waiting.append((session_id, fut))
            self._heartbeat_waiters = waiting
        elif op == 2:
            await self._identify(conn, d)
        elif op == 6:
            await self._resume(conn, d)

    async def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = d.get("shard")
        if shard is not None and not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(x, int) for x in shard)
            and 0 <= shard[0] < shard[1]
        ):
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        self.identify_count += 1
        session = Session(secrets.token_hex(16), int(d.get("intents") or 0), shard)
        # A new IDENTIFY replaces the earlier session of the same shard (and forgets
        # disconnected sessions of another shard count: the bot was resharded).
        for old in list(self.sessions.values()):
            same = old.shard_id == session.shard_id and old.num_shards == session.num_shards
            if same or (old.conn is None and old.num_shards != session.num_shards):
                del self.sessions[old.session_id]
        self.sessions[session.session_id] = session
        session.conn = conn
        bot = self.world.bot_user
        mine = [g for g in self.world.guilds if session.owns(g)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in mine],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self._url(),
            "application": {"id": str(self.world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": ["rotterdam"],
            "user_settings": {},
            "_trace": ["fakediscord"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._send(session, "READY", ready)
        all_members = bool(session.intents & GUILD_MEMBERS)
        for gid in mine:
            await self._send(
                session,
                "GUILD_CREATE",
                guild_create_payload(self.world, gid, all_members=all_members),
            )
        self.ready.set()

    async def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        session = self.sessions.get(d.get("session_id", ""))
        if session is None or d.get("token") != self.token:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        self.resume_count += 1
        session.conn = conn
        last = int(d.get("seq") or 0)
        for payload in session.buffer:
            if payload["s"] > last:
                await conn.send(payload)
        session.seq += 1
        await conn.send({"op": 0, "t": "RESUMED", "s": session.seq, "d": {"_trace": []}})
        self.resumed.set()

    async def close(self) -> None:
        for session in self.sessions.values():
            if session.conn is not None:
                with contextlib.suppress(Exception):
                    await session.conn.ws.close(code=1001)

    # ----- intents --------------------------------------------------------------------
    def _filter(self, session: Session, event: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Apply Discord's intent rules: drop gated events, blank message content."""
        intents = session.intents
        if event.startswith("MESSAGE_") or event == "TYPING_START":
            in_dm = self._is_dm(data)
            if event.startswith("MESSAGE_REACTION"):
                need = DIRECT_MESSAGE_REACTIONS if in_dm else GUILD_MESSAGE_REACTIONS
            elif event == "TYPING_START":
                need = DIRECT_MESSAGE_TYPING if in_dm else GUILD_MESSAGE_TYPING
            else:
                need = DIRECT_MESSAGES if in_dm else GUILD_MESSAGES
            if not intents & need:
                return None
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not self._sees_content(
                intents, data, in_dm
            ):
                data = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
            return data
        if event.startswith("GUILD_MEMBER"):
            return data if intents & GUILD_MEMBERS else None
        if event.startswith(_GUILD_EVENTS) and event != "GUILD_CREATE":
            return data if intents & GUILDS else None
        return data

    def _is_dm(self, data: dict[str, Any]) -> bool:
        channel = self.world.channels.get(int(data.get("channel_id") or 0))
        return channel is not None and channel.type == DM

    def _sees_content(self, intents: int, data: dict[str, Any], in_dm: bool) -> bool:
        me = str(self.world.bot_user.id)
        author = (data.get("author") or {}).get("id")
        mentions_me = any(u.get("id") == me for u in data.get("mentions") or [])
        return bool(intents & MESSAGE_CONTENT) or in_dm or author == me or mentions_me
