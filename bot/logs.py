"""Logging set-up: one format, the token scrubbed from every line, `discord.http` kept quiet.

At DEBUG, `discord.http` logs request bodies, which include interaction tokens and members'
private notes, so it is never allowed below INFO whatever LOG_LEVEL says.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
HIDDEN = "[token hidden]"


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
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    http_level = max(logging.INFO, logging.getLevelName(level))
    logging.getLogger("discord.http").setLevel(http_level)
    logging.getLogger("discord.webhook.async_").setLevel(http_level)
