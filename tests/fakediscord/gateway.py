"""The fake gateway: HELLO/IDENTIFY/READY/GUILD_CREATE, heartbeats, RESUME and dispatch.

Speaks the real protocol (including discord.py's default ``zlib-stream`` transport
compression) so the unmodified client's connection, caching and resume logic run exactly
as in production. Dispatches are filtered by the identified intents, like Discord does,
so a bot that forgot an intent sees the same empty events it would in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .payloads import guild_create_payload
from .world import DM, World

HEARTBEAT_INTERVAL_MS = 41250
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES = 1 << 0, 1 << 1, 1 << 9, 1 << 12
GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS = 1 << 10, 1 << 13
GUILD_MESSAGE_TYPING, DIRECT_MESSAGE_TYPING, MESSAGE_CONTENT = 1 << 11, 1 << 14, 1 << 15
_GUILD_EVENTS = ("GUILD_", "CHANNEL_", "THREAD_")


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


class Gateway:
    """Serves ``GET /`` websockets and fans dispatches out to identified sessions."""

    def __init__(self, world: World, token: str, url_getter: Callable[[], str]) -> None:
        self.world = world
        self.token = token
        self._url = url_getter
        self.sessions: dict[str, Session] = {}
        self.ready = asyncio.Event()
        self.resumed = asyncio.Event()
        self.identify_count = 0
        self.resume_count = 0
        self.received: list[dict[str, Any]] = []  # every op the client sent
        self.connect_queries: list[dict[str, str]] = []  # query string of each connection
        self._heartbeat_waiters: list[asyncio.Future[None]] = []

    # ----- public ---------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        return next(iter(self.sessions.values()), None)

    async def dispatch(self, event: str, data: dict[str, Any]) -> bool:
        """Send a DISPATCH to every session whose intents allow it; False if filtered."""
        sent = False
        for session in self.sessions.values():
            shaped = self._filter(session, event, data)
            if shaped is None:
                continue
            session.seq += 1
            payload = {"op": 0, "t": event, "s": session.seq, "d": shaped}
            session.buffer.append(payload)
            if session.conn is not None:
                await session.conn.send(payload)
            sent = True
        return sent

    async def drop(self, code: int = 4000) -> None:
        """Close the socket as Discord does on trouble; the client should RESUME."""
        self.resumed.clear()
        for session in self.sessions.values():
            conn, session.conn = session.conn, None
            if conn is not None:
                await conn.ws.close(code=code, message=b"dropped by test")

    async def send_op(self, op: int, d: Any = None) -> None:
        for session in self.sessions.values():
            if session.conn is not None:
                await session.conn.send({"op": op, "d": d, "s": None, "t": None})

    async def sync(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Barrier: ask for a heartbeat (op 1); the client answers only after it has
        processed everything sent before, so the bot's cache is up to date afterwards."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._heartbeat_waiters.append(fut)
        await self.send_op(1)
        await asyncio.wait_for(fut, timeout)

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
            waiters, self._heartbeat_waiters = self._heartbeat_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        elif op == 2:
            await self._identify(conn, d)
        elif op == 6:
            await self._resume(conn, d)

    async def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identify_count += 1
        session = Session(secrets.token_hex(16), int(d.get("intents") or 0), d.get("shard"))
        self.sessions = {session.session_id: session}
        session.conn = conn
        bot = self.world.bot_user
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds],
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
        await self.dispatch("READY", ready)
        all_members = bool(session.intents & GUILD_MEMBERS)
        for gid in list(self.world.guilds):
            await self.dispatch(
                "GUILD_CREATE", guild_create_payload(self.world, gid, all_members=all_members)
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
