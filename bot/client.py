"""The `commands.Bot` subclass: intents, mentions, cog loading, errors and command sync."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import pkgutil
import socket
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.clock import Clock
from bot.config import Settings
from bot.db.engine import Database, DatabaseClosing
from bot.jobs.outbox import OutboxDispatcher
from bot.jobs.pacing import Pacer
from bot.metrics import Metrics, RateLimitCounter
from bot.services import command_sync, health
from bot.services.languages import LanguageResolver, LanguageTracker
from bot.services.reachout.activity import ActivityTracker
from bot.ui import deadline, errors, language, pictures
from bot.ui.http_buckets import throttle_bucket_cleanup
from bot.ui.modals import ModalRoutes
from bot.ui.outbox_sender import DiscordSender
from bot.ui.translator import KinfolkTranslator

log = logging.getLogger("kinfolk")

# Kinfolk never joins voice: don't greet every start with warnings about voice libraries.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def discover_extensions(package: str = "cogs") -> list[str]:
    """Every feature package under `cogs/` (names starting with `_` are private)."""
    module = importlib.import_module(package)
    return sorted(
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(module.__path__)
        if not info.name.startswith("_")
    )


def intents(members: bool = False) -> discord.Intents:
    """Default intents: none of the privileged ones (presences, message content), and Server
    Members only when the deployment switched it on (MEMBERS_INTENT)."""
    chosen = discord.Intents.default()
    chosen.members = members
    chosen.presences = False
    chosen.message_content = False
    return chosen


def apply_endpoint_overrides(settings: Settings) -> None:
    """Point discord.py at another REST/gateway endpoint (tests, compatible servers).

    discord.py has no option for this; its class attributes are the only switch. Webhook and
    interaction routes are built from `Route.BASE` too.
    """
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base
        log.warning("DISCORD_API_BASE is set: talking to %s, not to Discord", settings.api_base)
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)
        log.warning(
            "DISCORD_GATEWAY_URL is set: connecting to %s, not to Discord", settings.gateway_url
        )


def _owner_name(settings: Settings) -> str:
    """Who holds an outbox lease, readable by an operator: host, process, shards."""
    shards = ",".join(str(i) for i in settings.shard_ids) if settings.shard_ids else "all"
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:shards-{shards[:20]}:{uuid.uuid4().hex[:6]}"


class KinfolkTree(app_commands.CommandTree):
    """The command tree: every slash command is watched for Discord's 3 s deadline (a slow
    database gets a "thinking…" acknowledgement in time, `bot.ui.deadline`)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        language.enter(interaction)  # first: the "one moment" of the guard is in it too
        deadline.guard(interaction)
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """A command that failed: the member gets a kind answer (`bot.ui.errors.report`)."""
        await errors.report(interaction, error)


class KinfolkBot(commands.AutoShardedBot):
    """The bot. It always runs as an AutoShardedBot: with SHARD_COUNT unset it takes the
    shard count Discord recommends and runs every shard here; with SHARD_COUNT and SHARD_IDS
    several processes each run their range against one PostgreSQL. Nothing in it relies on
    seeing another shard's events: work that must happen once lives in the outbox."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        extensions: Sequence[str] | None = None,
        outbox_poll_seconds: float = 5.0,
        participation_flush_seconds: float = 15.0,
        metrics: Metrics | None = None,
        metrics_refresh_seconds: float = 15.0,
        **options: Any,
    ) -> None:
        if settings.shard_ids is not None:
            options["shard_ids"] = list(settings.shard_ids)  # else: every shard, here
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents(settings.members_intent),
            allowed_mentions=discord.AllowedMentions.none(),
            # Kinfolk needs no member lists (leaves arrive as raw events): never download a
            # big server's members at start, which would cost minutes and hundreds of MB.
            chunk_guilds_at_startup=False,
            # Kinfolk never reads discord.py's message cache.
            max_messages=None,
            shard_count=settings.shard_count,
            tree_cls=KinfolkTree,
            **options,
        )
        # A wave of DMs must not walk every rate-limit bucket on each send (bot.ui.http_buckets).
        throttle_bucket_cleanup(self.http)
        self.settings = settings
        self.db = db
        self.clock = clock
        self.started_at = clock.now()
        self.pictures_drawing = pictures.OnePerMember()
        self._extension_names = list(extensions) if extensions is not None else None
        # Everything the bot says on its own initiative goes through this one loop;
        # features register how to render their kinds of message (and their views) on it.
        self.sender = DiscordSender(self, Pacer(settings.outbox_per_second))
        # Each message in its reader's language; languages seen on interactions are noted
        # in memory and written with participation (bot.services.languages).
        self.languages = LanguageTracker(db, clock)
        self.language_of = LanguageResolver(db, clock, self.languages)
        self.translator = KinfolkTranslator()
        self.outbox = OutboxDispatcher(
            db,
            clock,
            self.sender,
            {},
            poll_seconds=outbox_poll_seconds,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            owner=_owner_name(settings),
            concurrency=settings.outbox_lanes,
            batch=max(20, settings.outbox_lanes * 5),
            language_of=self.language_of,
        )
        self._outbox_task: asyncio.Task[None] | None = None
        # Submitted forms, by custom id, to the feature that opened them (bot.ui.feature).
        self.modals = ModalRoutes()
        # Participation is counted in memory and written every few seconds (reach-out).
        self.participation = ActivityTracker(db, clock)
        self.participation_flush_seconds = participation_flush_seconds
        self._participation_task: asyncio.Task[None] | None = None
        # Optional Prometheus metrics (METRICS_PORT).
        self.metrics = metrics
        self.metrics_refresh_seconds = metrics_refresh_seconds
        self._metrics_task: asyncio.Task[None] | None = None
        self._rate_limit_counter = RateLimitCounter(metrics) if metrics is not None else None
        if self._rate_limit_counter is not None:
            logging.getLogger("discord.http").addFilter(self._rate_limit_counter)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(self.translator)
        names = self._extension_names
        for name in names if names is not None else discover_extensions():
            await self.load_extension(name)
        await self.sync_commands()
        pictures.warm()  # the first /mood or /circle should not wait for matplotlib
        self._outbox_task = asyncio.create_task(self._run_outbox(), name="outbox")
        self._participation_task = asyncio.create_task(
            self._flush_participation_often(), name="activity"
        )
        if self.metrics is not None:
            self._metrics_task = asyncio.create_task(self._refresh_metrics(), name="metrics")

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if self.metrics is not None:
            self.metrics.interactions.labels(interaction.type.name).inc()
        await self.modals.dispatch(interaction)  # a submitted form, to its feature

    async def _refresh_metrics(self) -> None:
        assert self.metrics is not None
        while True:
            try:
                self.metrics.update(await health.snapshot(self.db, self.clock))
            except DatabaseClosing:
                return
            except Exception as error:
                self.metrics.up.set(0)
                log.warning("metrics: could not read the database (%s)", type(error).__name__)
            await asyncio.sleep(self.metrics_refresh_seconds)

    async def _run_outbox(self) -> None:
        # DMs to server owners need the guild cache, so wait for READY.
        await self.wait_until_ready()
        await self.outbox.run_forever()

    async def _flush_participation_often(self) -> None:
        while True:
            await asyncio.sleep(self.participation_flush_seconds)
            await self.flush_participation()

    async def flush_participation(self) -> None:
        """Write the participation counted so far (kept for the next try if it fails), and
        the languages members were seen using."""
        try:
            await self.participation.flush()
        except DatabaseClosing:
            log.warning(
                "activity of %d member(s) not written: shutting down", len(self.participation)
            )
        except Exception:
            log.exception("writing activity failed; keeping it for the next flush")
        try:
            await self.languages.flush()
        except DatabaseClosing:
            log.warning("languages of %d member(s) not written: shutting down", len(self.languages))
        except Exception:
            log.exception("writing languages failed; keeping them for the next flush")

    async def stop_outbox(self, grace: float = 10.0) -> None:
        """Let the dispatcher finish the message in hand and hand back the rest."""
        task = self._outbox_task
        if task is None or task.done():
            return
        self.outbox.stop()
        try:
            async with asyncio.timeout(grace):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        if self._metrics_task is not None:
            self._metrics_task.cancel()
        if self._rate_limit_counter is not None:
            logging.getLogger("discord.http").removeFilter(self._rate_limit_counter)
        await self.stop_outbox(grace=2.0)
        if self._participation_task is not None:
            self._participation_task.cancel()
        await self.flush_participation()
        await super().close()

    async def sync_commands(self) -> bool:
        """Sync slash commands; returns whether a sync request was made."""
        if self.settings.dev_guild_id is not None:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the development server", len(synced))
            return True
        # With their translations: a catalog that changed is synced too.
        payload = [
            await command.get_translated_payload(self.tree, self.translator)
            for command in self.tree.get_commands()
        ]
        tree_hash = command_sync.fingerprint([{"application_id": self.application_id}, *payload])
        if not await command_sync.needs_sync(self.db, tree_hash):
            log.info("commands unchanged since the last sync; not syncing")
            return False
        synced = await self.tree.sync()
        await command_sync.record_sync(self.db, self.clock, tree_hash)
        log.info("synced %d global commands", len(synced))
        return True

    async def on_ready(self) -> None:
        log.info(
            "connected as %s to %d server(s) on shard(s) %s of %s",
            self.user,
            len(self.guilds),
            ",".join(str(i) for i in sorted(self.shards)) or "-",
            self.shard_count,
        )
