"""The outbox's defaults, in one place: the settings (`bot.config`), the pacer and the
dispatcher all take them from here."""

from __future__ import annotations

# REST requests a second for one process. Discord's global limit is 50 a second for a bot,
# across all its processes: 45 leaves room for the interactions' own requests.
OUTBOX_PER_SECOND = 45
# How long a claimed message is leased before another pass or process may take it.
OUTBOX_LEASE_SECONDS = 120
