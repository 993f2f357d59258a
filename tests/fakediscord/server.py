"""``FakeDiscord``: the stand-in's lifecycle and the API end-to-end tests drive it with.

One aiohttp app on a random 127.0.0.1 port serves REST under ``/api/v10`` and the
gateway at ``/``. Tests act as Discord's users (invoke commands, click, submit modals,
post messages) and then read what the bot did (messages, threads, requests, pings).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import interactions as ix
from . import validation
from .gateway import Gateway
from .messages import MessageStore, StoredMessage, pinged
from .ratelimit import DEFAULT_BUCKET, GLOBAL_LIMIT_PER_SECOND, InjectedFailure, RateLimiter
from .rest import RestHandlers
from .rest_common import RecordedRequest, make_middleware
from .rest_interactions import InteractionRoutes
from .world import DM, Channel, World, new_snowflake


class FakeDiscord:
    """``async with FakeDiscord(world) as fake:`` — a local Discord for discord.py.

    On exit it fails the test (AssertionError) if any request violated Discord's rules
    or hit an unimplemented route, unless the test consumed them with
    ``take_violations()`` / ``take_unimplemented()``.
    """

    def __init__(
        self,
        world: World,
        *,
        bucket: tuple[int, float] = DEFAULT_BUCKET,
        fail_on_violations: bool = True,
        global_limit: int = GLOBAL_LIMIT_PER_SECOND,
    ) -> None:
        validation.warm_up()
        self.world = world
        # Shaped like a real bot token: base64 of the bot's id, a timestamp part, an HMAC part.
        bot_id = base64.b64encode(str(world.bot_user.id).encode()).decode().rstrip("=")
        self.token: str = f"{bot_id}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"
        self.fail_on_violations = fail_on_violations
        # Seconds allowed between dispatch and the first callback (Discord: 3).
        self.response_deadline: float = validation.FIRST_RESPONSE_DEADLINE
        self.limiter = RateLimiter(bucket, global_limit)
        self.store = MessageStore(world)
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.unimplemented: list[str] = []
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.commands_synced = asyncio.Event()
        self.interactions: dict[str, ix.PendingInteraction] = {}
        self.gateway = Gateway(world, self.token, lambda: self.gateway_url)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----- lifecycle ------------------------------------------------------------------
    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.stop()
        if exc_type is None and self.fail_on_violations:
            self.assert_no_violations()

    async def start(self) -> None:
        app = web.Application(middlewares=[make_middleware(self)], client_max_size=64 * 2**20)
        app.add_routes(RestHandlers(self).routes() + InteractionRoutes(self).routes())
        app.router.add_get("/", self.gateway.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self.gateway.close()
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ----- bookkeeping ----------------------------------------------------------------
    def violation(self, route: str, reason: str) -> None:
        self.violations.append(f"{route}: {reason}")

    def take_violations(self) -> list[str]:
        """Return and clear recorded violations (for tests that provoke them on purpose)."""
        taken, self.violations = self.violations, []
        return taken

    def take_unimplemented(self) -> list[str]:
        taken, self.unimplemented = self.unimplemented, []
        return taken

    def assert_no_violations(self) -> None:
        problems = [f"violation: {v}" for v in self.violations]
        problems += [f"unimplemented route called: {u}" for u in self.unimplemented]
        if problems:
            raise AssertionError("fake Discord saw problems:\n  " + "\n  ".join(problems))

    def inject_failure(
        self,
        method: str,
        path_regex: str,
        status: int = 429,
        count: int = 1,
        retry_after: float = 0.05,
        code: int | None = None,
    ) -> InjectedFailure:
        """Answer the next ``count`` matching requests with ``status`` (429/5xx/403)."""
        return self.limiter.inject_failure(method, path_regex, status, count, retry_after, code)

    def new_id(self) -> int:
        return new_snowflake()

    def render(self, msg: StoredMessage) -> dict[str, Any]:
        return msg.payload(self.world, self.base_url)

    # ----- waiting --------------------------------------------------------------------
    async def wait_ready(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until the bot identified, got its guilds and processed them."""
        try:
            await asyncio.wait_for(self.gateway.ready.wait(), timeout)
            await self.gateway.sync(timeout)
        except TimeoutError:
            raise AssertionError(f"bot did not connect to the fake gateway in {timeout}s") from None

    async def wait_commands_synced(
        self,
        timeout: float = 10,  # noqa: ASYNC109
        guild_id: int | None = None,
    ) -> None:
        """Wait for a global (or, with ``guild_id``, that guild's) command sync."""
        await self.wait_for(
            lambda: guild_id in self.commands, timeout, f"commands synced for {guild_id}"
        )

    async def wait_resumed(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self.gateway.resumed.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"bot did not RESUME within {timeout}s") from None

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5,  # noqa: ASYNC109
        what: str = "",
    ) -> Any:
        """Poll ``predicate`` (sync or async) until truthy; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                label = what or getattr(predicate, "__name__", repr(predicate))
                raise AssertionError(f"timed out after {timeout}s waiting for {label}")
            await asyncio.sleep(0.02)

    # ----- reading the world ----------------------------------------------------------
    @property
    def global_commands(self) -> list[dict[str, Any]]:
        return self.commands.get(None, [])

    def guild_commands(self, guild_id: int) -> list[dict[str, Any]]:
        return self.commands.get(guild_id, [])

    def messages(self, channel_id: int, *, ephemeral: bool | None = None) -> list[StoredMessage]:
        """Live messages in a channel/thread/DM, oldest first; filter by ephemerality."""
        return sorted(self.store.in_channel(channel_id, ephemeral=ephemeral), key=lambda m: m.id)

    def dm_messages(self, user_id: int) -> list[StoredMessage]:
        for ch in self.world.channels.values():
            if ch.type == DM and ch.recipients == [user_id]:
                return self.messages(ch.id)
        return []

    @property
    def threads(self) -> list[Channel]:
        return self.world.threads()

    def pinged(self, message: StoredMessage) -> set[str]:
        """Who Discord would notify for ``message`` (see ``messages.pinged``)."""
        return pinged(message, self.world)

    # ----- acting as Discord's users --------------------------------------------------
    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send any gateway event, then wait until the bot has processed it."""
        await self.gateway.dispatch(event, data)
        await self._sync()

    async def _sync(self) -> None:
        session = self.gateway.session
        if session is not None and session.conn is not None:
            await self.gateway.sync()

    async def drop_gateway(self, code: int = 4000) -> None:
        """Drop the bot's websocket; it should reconnect and RESUME."""
        await self.gateway.drop(code)

    async def post_message(
        self, channel_id: int, author_id: int, content: str, **fields: Any
    ) -> StoredMessage:
        """A user posts in a channel: stored, then MESSAGE_CREATE (intent-filtered)."""
        msg = self.store.create(channel_id, author_id, content=content, **fields)
        data = self.render(msg)
        channel = self.world.channels[channel_id]
        if channel.guild_id is not None:
            member = self.world.guilds[channel.guild_id].members.get(author_id)
            if member is not None:
                data["member"] = member.payload(with_user=False)
        await self.dispatch("MESSAGE_CREATE", data)
        return msg

    async def add_reaction(self, message: StoredMessage, user_id: int, emoji: str = "👍") -> None:
        """A user reacts to ``message`` with a unicode ``emoji``: MESSAGE_REACTION_ADD
        (intent-filtered), shaped like Discord's. Only the event is simulated; the message's
        stored reactions are not tracked."""
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "message_author_id": str(message.author_id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
            member = self.world.guilds[message.guild_id].members.get(user_id)
            if member is not None:
                data["member"] = member.payload()
        await self.dispatch("MESSAGE_REACTION_ADD", data)

    async def _start(
        self, rec: ix.PendingInteraction, payload: dict[str, Any]
    ) -> ix.InteractionHandle:
        if self.gateway.session is None:
            raise AssertionError("bot is not connected; await fake.wait_ready() first")
        self.interactions[rec.token] = rec
        rec.dispatched_at = time.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return ix.InteractionHandle(rec)

    def _command_payload(
        self,
        kind: int,
        guild_id: int | None,
        channel_id: int,
        member_id: int,
        path: str,
        options: dict[str, Any] | None,
        locale: str | None,
        focused: str | None = None,
    ) -> tuple[ix.PendingInteraction, dict[str, Any]]:
        available = self.global_commands + (self.guild_commands(guild_id) if guild_id else [])
        command, sub_path, schema = ix.resolve_command(available, path)
        rec = ix.new_record(kind, guild_id, channel_id, member_id)
        leaf, resolved = ix.build_options(self.world, rec, schema, options or {}, focused=focused)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": ix.nest_options(sub_path, leaf),
        }
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        payload = ix.base_payload(self.world, rec, locale)
        payload["data"] = data
        return rec, payload

    async def invoke(
        self,
        guild_id: int | None,
        channel_id: int,
        member_id: int,
        command: str,
        options: dict[str, Any] | None = None,
        locale: str | None = None,
    ) -> ix.InteractionHandle:
        """A member runs ``/command`` (``"group sub"`` paths) with typed ``options``."""
        rec, payload = self._command_payload(
            ix.APPLICATION_COMMAND, guild_id, channel_id, member_id, command, options, locale
        )
        return await self._start(rec, payload)

    async def autocomplete(
        self,
        guild_id: int | None,
        channel_id: int,
        member_id: int,
        command: str,
        options: dict[str, Any],
        focused: str,
        locale: str | None = None,
        timeout: float = 5,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """A member types into option ``focused``; returns the bot's choices."""
        rec, payload = self._command_payload(
            ix.AUTOCOMPLETE, guild_id, channel_id, member_id, command, options, locale, focused
        )
        handle = await self._start(rec, payload)
        await handle.response(timeout)
        if handle.choices is None:
            raise AssertionError(f"bot answered autocomplete with {handle.response_type}")
        return handle.choices

    async def click(
        self,
        message: StoredMessage,
        custom_id: str,
        member_id: int,
        values: list[str] | None = None,
        locale: str | None = None,
    ) -> ix.InteractionHandle:
        """A member clicks a button / picks select ``values`` on ``message``."""
        component = ix.find_component(message.components, custom_id)
        if component is None:
            have = message.custom_ids
            raise AssertionError(f"no component {custom_id!r} on message; it has {have}")
        if component.get("disabled"):
            raise AssertionError(f"component {custom_id!r} is disabled")
        return await self._component(message, custom_id, component, member_id, values, locale)

    async def forge_click(
        self,
        message: StoredMessage,
        custom_id: str,
        member_id: int,
        *,
        component_type: int = 2,
        locale: str | None = None,
    ) -> ix.InteractionHandle:
        """A press of a button with ``custom_id`` on ``message`` as if the message held it,
        whatever it holds. Discord only sends presses of components a message has (and
        discord.py drops others), so this is how any bug that puts a wrong id on a message
        looks to the bot (e.g. an id given out twice, naming another server's request): the
        bot must check what a custom id names, not trust it."""
        component = {"type": component_type, "custom_id": custom_id}
        if component_type == 2:
            component.update(style=2, label="Forged")
        return await self._component(
            message, custom_id, component, member_id, None, locale, extra=component
        )

    async def _component(
        self,
        message: StoredMessage,
        custom_id: str,
        component: dict[str, Any],
        member_id: int,
        values: list[str] | None,
        locale: str | None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> ix.InteractionHandle:
        channel = self.world.channels[message.channel_id]
        rec = ix.new_record(ix.COMPONENT, channel.guild_id, channel.id, member_id)
        rec.message = message
        payload = ix.base_payload(self.world, rec, locale)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = [str(v) for v in values or []]
            resolved = ix.select_resolved(self.world, rec, component["type"], data["values"])
            if resolved:
                data["resolved"] = resolved
        payload["data"] = data
        payload["message"] = self.render(message)
        if extra is not None:  # the forged component, shown as part of the message
            payload["message"]["components"] = [
                *payload["message"].get("components", []),
                {"type": 1, "components": [extra]},
            ]
        return await self._start(rec, payload)

    async def submit_modal(
        self,
        handle: ix.InteractionHandle,
        values: dict[str, Any],
        member_id: int | None = None,
        locale: str | None = None,
    ) -> ix.InteractionHandle:
        """Submit the modal the bot showed in answer to ``handle``."""
        modal = handle.modal
        if modal is None:
            raise AssertionError("the bot did not answer this interaction with a modal")
        src = handle.record
        rec = ix.new_record(ix.MODAL_SUBMIT, src.guild_id, src.channel_id, member_id or src.user_id)
        rec.message = src.message
        payload = ix.base_payload(self.world, rec, locale)
        payload["data"] = {
            "custom_id": modal["custom_id"],
            "components": ix.modal_submit_components(modal, values),
        }
        if src.message is not None:
            payload["message"] = self.render(src.message)
        return await self._start(rec, payload)
