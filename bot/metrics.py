"""Optional Prometheus metrics (METRICS_PORT; needs `pip install -e '.[metrics]'`).

Counters are kept by this process (interactions it served, 429s it was given); the
database gauges (outbox depth, members waiting for a person) are refreshed from the
database every few seconds, so any one process's endpoint shows the whole deployment's.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.services.health import Health

log = logging.getLogger(__name__)

PRIORITY_NAMES = {0: "urgent", 1: "normal", 2: "bulk"}
RATE_LIMITED_PREFIX = "We are being rate limited"


class MetricsUnavailable(RuntimeError):
    """METRICS_PORT is set but prometheus-client is not installed."""


class Metrics:
    def __init__(self) -> None:
        try:
            import prometheus_client as prom
        except ImportError as error:
            raise MetricsUnavailable(
                "METRICS_PORT is set but prometheus-client is not installed: "
                "run `.venv/bin/pip install -e '.[metrics]'` or unset METRICS_PORT"
            ) from error
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.interactions = prom.Counter(
            "kinfolk_interactions_total",
            "Interactions (commands, buttons, modals) this process received",
            ["type"],
            registry=r,
        )
        self.rate_limited = prom.Counter(
            "kinfolk_discord_429_total", "429 answers Discord gave this process", registry=r
        )
        self.outbox_due = prom.Gauge(
            "kinfolk_outbox_due",
            "Outbox messages due and not yet sent, by priority",
            ["priority"],
            registry=r,
        )
        self.outbox_oldest = prom.Gauge(
            "kinfolk_outbox_oldest_due_seconds",
            "How long the longest-waiting due outbox message has waited",
            registry=r,
        )
        self.outbox_sending = prom.Gauge(
            "kinfolk_outbox_sending", "Outbox messages leased by a dispatcher", registry=r
        )
        self.outbox_failed = prom.Gauge(
            "kinfolk_outbox_failed", "Outbox messages given up on (kept as a record)", registry=r
        )
        self.escalations_waiting = prom.Gauge(
            "kinfolk_escalations_waiting",
            "'I need to talk' requests no moderator has claimed yet",
            registry=r,
        )
        self.escalation_oldest = prom.Gauge(
            "kinfolk_escalation_oldest_wait_seconds",
            "How long the oldest unclaimed request has waited",
            registry=r,
        )
        self.up = prom.Gauge(
            "kinfolk_database_reachable", "1 when the last refresh reached the database", registry=r
        )

    def serve(self, port: int, address: str = "127.0.0.1") -> Any:
        """Serve /metrics on a background thread; returns the server (for shutdown)."""
        server, _thread = self._prom.start_http_server(port, addr=address, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", address, port)
        return server

    def update(self, health: Health) -> None:
        for priority, name in PRIORITY_NAMES.items():
            self.outbox_due.labels(name).set(health.outbox_due.get(priority, 0))
        self.outbox_oldest.set(health.outbox_oldest_due_seconds)
        self.outbox_sending.set(health.outbox_sending)
        self.outbox_failed.set(health.outbox_failed)
        self.escalations_waiting.set(health.escalations_waiting)
        self.escalation_oldest.set(health.escalation_oldest_wait_seconds)
        self.up.set(1)

    def render(self) -> bytes:
        return self._prom.generate_latest(self.registry)


class RateLimitCounter(logging.Filter):
    """Counts discord.py's "We are being rate limited" warnings (it has no hook for 429s)."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(RATE_LIMITED_PREFIX):
            self.metrics.rate_limited.inc()
        return True
