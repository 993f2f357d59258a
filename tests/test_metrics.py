"""Prometheus metrics (METRICS_PORT): gauges from the health snapshot, the 429 counter fed
by discord.py's log, interactions counted by the bot, and `kinfolk run` serving /metrics."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.client import KinfolkBot, apply_endpoint_overrides
from bot.config import ConfigError, Settings, load_settings
from bot.db import migrate
from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.domain.escalation import Urgency
from bot.jobs.delivery import plain_payload
from bot.logs import SENSITIVE_LOGGERS, configure_logging
from bot.metrics import Metrics, MetricsUnavailable, RateLimitCounter
from bot.runner import serve
from bot.services.escalation import requests
from bot.services.health import Health
from tests.conftest import fresh_database
from tests.e2e.driver import assert_every_message_sets_allowed_mentions
from tests.fakediscord import FakeDiscord, World, point_discord_py_at
from tests.helpers import FrozenClock
from tests.test_cli import KEY, KINFOLK, TOKEN, kinfolk_env

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: bytes | str) -> Samples:
    """Every sample of a /metrics page: (name, sorted labels) → value."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: Samples, name: str, **labels: str) -> float | None:
    return page.get((name, tuple(sorted(labels.items()))))


# ----- gauges and counters ------------------------------------------------------------------


def test_update_sets_every_gauge_from_the_snapshot() -> None:
    metrics = Metrics()
    metrics.update(
        Health(
            outbox_due={0: 2, 2: 150},
            outbox_sending=7,
            outbox_failed=3,
            outbox_oldest_due_seconds=42.5,
            escalations_waiting=1,
            escalation_oldest_wait_seconds=300.0,
        )
    )
    page = samples(metrics.render())
    assert value(page, "kinfolk_outbox_due", priority="urgent") == 2
    assert value(page, "kinfolk_outbox_due", priority="normal") == 0  # none due: 0, not absent
    assert value(page, "kinfolk_outbox_due", priority="bulk") == 150
    assert value(page, "kinfolk_outbox_sending") == 7
    assert value(page, "kinfolk_outbox_failed") == 3
    assert value(page, "kinfolk_outbox_oldest_due_seconds") == 42.5
    assert value(page, "kinfolk_escalations_waiting") == 1
    assert value(page, "kinfolk_escalation_oldest_wait_seconds") == 300.0
    assert value(page, "kinfolk_database_reachable") == 1

    # The next refresh replaces every figure: a priority with nothing due drops to 0.
    metrics.update(Health({1: 4}, 0, 3, 1.0, 0, 0.0))
    page = samples(metrics.render())
    due = [value(page, "kinfolk_outbox_due", priority=p) for p in ("urgent", "normal", "bulk")]
    assert due == [0, 4, 0]
    assert value(page, "kinfolk_escalations_waiting") == 0
    assert value(page, "kinfolk_escalation_oldest_wait_seconds") == 0.0


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # a second bot in one process must not clash
    first.interactions.labels("component").inc()
    assert value(samples(first.render()), "kinfolk_interactions_total", type="component") == 1
    assert value(samples(second.render()), "kinfolk_interactions_total", type="component") is None


# The messages discord.py 2.x logs on discord.http when Discord answers 429.
RATE_LIMITED = "We are being rate limited. %s %s responded with 429. Retrying in %.2f seconds."
RATE_LIMITED_TOO_LONG = (
    "We are being rate limited. %s %s responded with 429. Timeout of %.2f was too long, "
    "erroring instead."
)


@pytest.fixture
def http_log() -> Iterator[logging.Logger]:
    """discord.py's REST logger, with its level and filters put back afterwards."""
    logger = logging.getLogger("discord.http")
    level, filters = logger.level, list(logger.filters)
    yield logger
    logger.setLevel(level)
    logger.filters[:] = filters


def test_the_rate_limit_counter_counts_only_429_warnings(
    http_log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    http_log.addFilter(RateLimitCounter(metrics))
    with caplog.at_level(logging.DEBUG, logger="discord.http"):
        http_log.warning(RATE_LIMITED, "POST", "https://x/channels/1/messages", 0.5)
        # A global limit logs this as well as the line above: one 429, counted once.
        http_log.warning("Global rate limit has been hit. Retrying in %.2f seconds.", 0.5)
        http_log.warning(RATE_LIMITED_TOO_LONG, "GET", "https://x/guilds/1", 900.0)
        http_log.debug("A rate limit bucket (%s) has been exhausted. Pre-emptively rate limiting")
        http_log.warning("We are being cautious about %s", "nothing")
        http_log.info("POST https://x/channels/1/messages with None has returned 200")
    assert value(samples(metrics.render()), "kinfolk_discord_429_total") == 2
    assert len(caplog.records) == 6  # counted, never swallowed


def test_429s_are_counted_whatever_the_log_level(http_log: logging.Logger) -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    metrics = Metrics()
    http_log.addFilter(RateLimitCounter(metrics))
    try:
        configure_logging("ERROR")
        http_log.warning(RATE_LIMITED, "POST", "https://x/channels/1/messages", 0.5)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name in SENSITIVE_LOGGERS:  # (discord.http is restored by its fixture)
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert value(samples(metrics.render()), "kinfolk_discord_429_total") == 1


# ----- without prometheus-client ---------------------------------------------------------------


@pytest.fixture
def no_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if prometheus-client were not installed (None in sys.modules: ImportError)."""
    for name in [m for m in sys.modules if m.split(".")[0] == "prometheus_client"]:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_prometheus")
def test_metrics_need_prometheus_client() -> None:
    with pytest.raises(MetricsUnavailable, match="prometheus-client"):
        Metrics()


@pytest.mark.usefixtures("no_prometheus")
async def test_run_with_metrics_port_but_no_prometheus_client_is_a_config_error(
    tmp_path: Path, encryption_key: str
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'kinfolk.db'}"
    settings = load_settings(
        {
            "DISCORD_TOKEN": TOKEN,
            "ENCRYPTION_KEY": encryption_key,
            "DATABASE_URL": database_url,
            "METRICS_PORT": "9108",
        }
    )
    with pytest.raises(ConfigError) as caught:
        await serve(settings)
    assert caught.value.setting == "METRICS_PORT"
    assert "prometheus-client" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.usefixtures("http_log")  # the bot adds its 429 counter to discord.http
async def test_a_metrics_port_in_use_is_a_config_error(tmp_path: Path, encryption_key: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = load_settings(
            {
                "DISCORD_TOKEN": TOKEN,
                "ENCRYPTION_KEY": encryption_key,
                "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'kinfolk.db'}",
                "METRICS_PORT": str(taken.getsockname()[1]),
            }
        )
        with pytest.raises(ConfigError) as caught:
            await serve(settings)
    assert caught.value.setting == "METRICS_PORT"


# ----- the bot, against the stand-in -------------------------------------------------------------


@dataclass
class Running:
    fake: FakeDiscord
    bot: KinfolkBot
    metrics: Metrics
    database: Database
    guild_id: int
    channel_id: int
    member_id: int

    async def page_where(self, name: str, expected: float, **labels: str) -> Samples:
        """The metrics page once `name{labels}` reads `expected` (refreshed in the background)."""

        def reached() -> Samples | None:
            page = samples(self.metrics.render())
            return page if value(page, name, **labels) == expected else None

        return await self.fake.wait_for(reached, 5, f"{name}{labels} == {expected}")


@pytest.fixture
async def running(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Running]:
    """A KinfolkBot with metrics, refreshed every 50 ms (SQLite: test_health covers the
    figures on both backends)."""
    world = World()
    guild = world.add_guild("Haven")
    general = world.add_text_channel(guild.id, "general")
    member = world.add_member(guild.id, "alice")
    async with (
        fresh_database("sqlite", tmp_path, create_schema=False) as database,
        FakeDiscord(world, bucket=(50, 1.0)) as fake,
    ):
        await migrate.upgrade(database)
        undo = point_discord_py_at(fake.api_base, fake.gateway_url)
        settings = Settings(
            token=fake.token,
            database_url=database.url,
            api_base=fake.api_base,
            gateway_url=fake.gateway_url,
        )
        apply_endpoint_overrides(settings)
        metrics = Metrics()
        bot = KinfolkBot(
            settings=settings,
            db=database,
            clock=clock,
            guild_ready_timeout=0.1,
            outbox_poll_seconds=0.05,
            metrics=metrics,
            metrics_refresh_seconds=0.05,
        )
        ready = asyncio.Event()

        async def on_ready() -> None:
            ready.set()

        bot.add_listener(on_ready, "on_ready")
        task = asyncio.create_task(bot.start(fake.token))
        try:
            await asyncio.wait_for(ready.wait(), 15)
            await fake.wait_commands_synced()
            yield Running(fake, bot, metrics, database, guild.id, general.id, member.id)
            assert_every_message_sets_allowed_mentions(fake)
        finally:
            await bot.close()
            await asyncio.wait_for(task, 10)
            undo()
            logging.getLogger("discord.http").filters[:] = [
                f
                for f in logging.getLogger("discord.http").filters
                if not isinstance(f, RateLimitCounter)
            ]


async def test_the_bot_counts_interactions_429s_and_refreshes_the_gauges(
    running: Running, clock: FrozenClock
) -> None:
    fake, where = running.fake, (running.guild_id, running.channel_id, running.member_id)
    for _ in range(2):
        handle = await fake.invoke(*where, "about")
        assert (await handle.original_message()).embeds[0]["title"] == "Kinfolk"
    choices = await fake.autocomplete(
        *where, "reminder set", {"time": "21:00", "timezone": "berl"}, "timezone"
    )
    assert choices
    page = samples(running.metrics.render())
    assert value(page, "kinfolk_interactions_total", type="application_command") == 2
    assert value(page, "kinfolk_interactions_total", type="autocomplete") == 1
    assert value(page, "kinfolk_discord_429_total") == 0

    # Discord answers one outbox send with a 429: discord.py waits and retries, and says so.
    fake.inject_failure("POST", rf"/channels/{running.channel_id}/messages$", 429)
    async with running.database.session() as session:
        await outbox.enqueue(
            session,
            key="metrics:hello",
            kind="plain",
            target_type="channel",
            target_id=running.channel_id,
            payload=plain_payload("hello"),
            due_at=clock.now(),
            now=clock.now(),
        )
    running.bot.outbox.wake()

    def hello_sent() -> bool:
        return any(m.content == "hello" for m in fake.messages(running.channel_id))

    await fake.wait_for(hello_sent, 5, "the message")
    assert value(samples(running.metrics.render()), "kinfolk_discord_429_total") == 1

    # A member asks for a person and nobody answers yet: the gauges show them waiting.
    await requests.open_request(
        running.database,
        clock,
        guild_id=running.guild_id,
        member_id=running.member_id,
        urgency=Urgency.STRUGGLING,
        locale="en-GB",
    )
    clock.advance(seconds=90)
    page = await running.page_where("kinfolk_escalation_oldest_wait_seconds", 90.0)
    assert value(page, "kinfolk_escalations_waiting") == 1
    assert value(page, "kinfolk_database_reachable") == 1


# ----- `kinfolk run` ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_run_with_metrics_port_serves_metrics(tmp_path: Path) -> None:
    world = World()
    guild = world.add_guild("Haven")
    general = world.add_text_channel(guild.id, "general")
    member = world.add_member(guild.id, "alice")
    port = free_port()
    async with FakeDiscord(world, bucket=(50, 1.0)) as fake:
        env = kinfolk_env(
            fake,
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'kinfolk.db'}",
            ENCRYPTION_KEY=KEY,
            METRICS_PORT=str(port),
        )
        process = await asyncio.create_subprocess_exec(
            KINFOLK,
            "run",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await fake.wait_ready(timeout=30)
            await fake.wait_commands_synced(timeout=30)
            handle = await fake.invoke(guild.id, general.id, member.id, "about")
            await handle.original_message()
            url = f"http://127.0.0.1:{port}/metrics"
            async with aiohttp.ClientSession() as http:

                async def scraped() -> Samples | None:
                    async with http.get(url) as response:
                        assert response.status == 200
                        page = samples(await response.text())
                    # The gauges appear after the first refresh from the database.
                    return page if value(page, "kinfolk_database_reachable") == 1 else None

                page = await fake.wait_for(scraped, 10, "/metrics with database figures")
            assert value(page, "kinfolk_interactions_total", type="application_command") == 1
            assert value(page, "kinfolk_outbox_due", priority="urgent") == 0
            assert value(page, "kinfolk_escalations_waiting") == 0
            assert value(page, "kinfolk_discord_429_total") == 0
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(process.wait(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.stdout is not None
        output = (await process.stdout.read()).decode()
        assert returncode == 0, output
        assert f"metrics on http://127.0.0.1:{port}/metrics" in output
        assert fake.token not in output
        # Stopped with the bot: the port is free again.
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
