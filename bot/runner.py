"""Running the bot: migrate, connect, serve, and shut down gracefully on SIGTERM/SIGINT.

Shutdown order matters: the outbox dispatcher finishes the message in hand and hands back
the rest of its batch; the database stops accepting new units of work and waits for the ones
in flight (so no check-in or request is half-written); then the Discord connection closes and
the engine is disposed. Interactions arriving during the drain get a kind
"restarting, try again in a minute" answer instead of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import discord

from bot.client import KinfolkBot, apply_endpoint_overrides
from bot.clock import SystemClock
from bot.config import ConfigError, Settings, unusable_database
from bot.db import migrate
from bot.db.crypto import configure_keys
from bot.db.engine import Database
from bot.heap import freeze_start_up_heap
from bot.metrics import Metrics, MetricsUnavailable

log = logging.getLogger("kinfolk")

SHUTDOWN_GRACE_SECONDS = 10.0


async def serve(settings: Settings) -> int:
    token = settings.require_token()
    configure_keys(settings.require_encryption_keys())
    apply_endpoint_overrides(settings)
    # Migrations on their own engine, without the running bot's statement timeouts.
    migrator = Database(settings.database_url)
    try:
        await migrate.upgrade(migrator)
    except Exception as error:
        raise unusable_database(settings.database_url, error) from error
    finally:
        await migrator.close()
    database = Database(settings.database_url, timeouts=True)
    try:
        metrics = _metrics(settings)
        bot = KinfolkBot(settings=settings, db=database, clock=SystemClock(), metrics=metrics)
        server = _serve_metrics(metrics, settings.metrics_port)
        try:
            return await _run_until_signalled(bot, database, token)
        finally:
            if server is not None:
                server.shutdown()
    finally:
        await database.close()


def _metrics(settings: Settings) -> Metrics | None:
    if settings.metrics_port is None:
        return None
    try:
        return Metrics()
    except MetricsUnavailable as error:
        raise ConfigError(
            "METRICS_PORT",
            "is set but prometheus-client is not installed",
            "run `.venv/bin/pip install -e '.[metrics]'`, or unset METRICS_PORT",
        ) from error


def _serve_metrics(metrics: Metrics | None, port: int | None) -> Any:
    if metrics is None or port is None:
        return None
    try:
        return metrics.serve(port)
    except OSError as error:
        raise ConfigError(
            "METRICS_PORT",
            f"could not be used ({error.strerror or error})",
            "pick a free port; each process on one machine needs its own",
        ) from error


async def _freeze_once_ready(bot: KinfolkBot) -> None:
    """Once connected (caches filled, features loaded), leave the start-up heap out of
    later garbage collections (`bot.heap`)."""
    await bot.wait_until_ready()
    freeze_start_up_heap()


async def _run_until_signalled(bot: KinfolkBot, database: Database, token: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with bot:
            running = asyncio.create_task(bot.start(token), name="discord")
            freezing = asyncio.create_task(_freeze_once_ready(bot), name="heap")
            stopping = asyncio.create_task(stop.wait(), name="signal")
            done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            freezing.cancel()
            if running in done:
                stopping.cancel()
                running.result()  # raises what stopped the bot
                return 0
            log.info("shutting down: finishing work in flight")
            await bot.stop_outbox(SHUTDOWN_GRACE_SECONDS)
            await bot.flush_participation()
            await database.close(SHUTDOWN_GRACE_SECONDS)
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            log.info("stopped cleanly")
            return 0
    except discord.LoginFailure as error:
        raise ConfigError(
            "DISCORD_TOKEN",
            "was rejected by Discord",
            "reset the token in the Developer Portal (Bot → Reset Token) and update .env",
        ) from error
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
