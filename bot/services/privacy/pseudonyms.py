"""Pseudonyms: the negative number that stands for a member in what must outlive their
erasure (a block someone made against them, an audit row of a moderator's action).

A pseudonym is an HMAC of the server and member ids with a secret of the deployment's. The
secret is kept in the database *encrypted with ENCRYPTION_KEY* (`DeploymentSecret`), so a
copy of the database alone cannot turn a pseudonym back into a member; `kinfolk rotate-key`
re-encrypts it like every other encrypted value, so pseudonyms stay the same across key
rotations. Deployments from before kept the secret in plain text in `app_state`: it is moved
(the same secret, so existing pseudonyms still match) the first time it is needed, and at
every start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import AppState, DeploymentSecret
from bot.db.repositories import app_state
from bot.db.upsert import insert_ignoring_conflicts

ROW_NAME = "pseudonyms"  # its row in deployment_secrets
LEGACY_STATE = "privacy.tombstone_secret"  # the plain-text app_state row of old deployments


async def secret(session: AsyncSession, *, now: datetime) -> str:
    """The deployment's pseudonym secret (created, or moved from plain text, if needed)."""
    row = await session.get(DeploymentSecret, ROW_NAME)
    if row is not None:
        return row.value
    legacy = await app_state.get_value(session, LEGACY_STATE)
    value = legacy or base64.b64encode(os.urandom(32)).decode()
    await session.execute(
        insert_ignoring_conflicts(
            session,
            DeploymentSecret,
            [DeploymentSecret.name],
            name=ROW_NAME,
            value=value,
            created_at=now,
        )
    )
    if legacy is not None:
        await session.execute(delete(AppState).where(AppState.key == LEGACY_STATE))
    row = await session.get(DeploymentSecret, ROW_NAME, populate_existing=True)
    assert row is not None
    return row.value


def pseudonym(key: str, guild_id: int, user_id: int) -> int:
    digest = hmac.new(key.encode(), f"{guild_id}:{user_id}".encode(), hashlib.sha256).digest()
    return -(int.from_bytes(digest[:8], "big") >> 2) - 1


async def tombstone(session: AsyncSession, guild_id: int, user_id: int, *, now: datetime) -> int:
    """The member's pseudonym in this server: a negative number, the same every time, that
    cannot be turned back into their id without the deployment's secret and key."""
    return pseudonym(await secret(session, now=now), guild_id, user_id)


async def secure(db: Database, clock: Clock) -> None:
    """At start: make sure the secret exists, encrypted (moving a plain-text one)."""
    async with db.session() as session:
        await secret(session, now=clock.now())
        # A plain-text copy left behind (restored from an old backup) goes too.
        await session.execute(delete(AppState).where(AppState.key == LEGACY_STATE))
