"""Logging set-up: one format, the token scrubbed from every line, noisy loggers kept quiet.

Some libraries log private data at DEBUG, so they never go below INFO whatever LOG_LEVEL says:
`discord.http` and `discord.webhook.async_` log request bodies and interaction tokens,
`discord.gateway` logs every event payload (including text members type into modals), and
`aiosqlite` logs every statement with its parameters.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
HIDDEN = "[token hidden]"
SENSITIVE_LOGGERS = ("discord.http", "discord.webhook.async_", "discord.gateway", "aiosqlite")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then removes each secret from the finished line (tracebacks too)."""

    def __init__(self, secrets: list[str], fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, HIDDEN)
        return text


def configure_logging(level: str, secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(secrets or []))
    # The handler applies LOG_LEVEL to what is printed; loggers may let more through to their
    # filters (the metrics count discord.py's rate-limit warnings even at LOG_LEVEL=ERROR).
    handler.setLevel(level)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    floor = max(logging.INFO, logging.getLevelName(level))
    for name in SENSITIVE_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    # discord.py's rate-limit warnings must reach the metrics' counter (a filter on this
    # logger); the handler's level still keeps them off the output above WARNING.
    logging.getLogger("discord.http").setLevel(min(floor, logging.WARNING))
