"""Alembic environment. Kinfolk runs migrations in-process (`bot.db.migrate`), handing a
connection over in `config.attributes["connection"]`; the `alembic` command line (for
writing new revisions) connects through DATABASE_URL instead."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from bot.db.crypto import EncryptedText
from bot.db.models import Base
from bot.db.types import UTCDateTime

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write project column types as plain SQLAlchemy ones, so migrations never import them."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EncryptedText):
        return "sa.Text()"  # ciphertext
    return False


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from bot.config import load_settings, read_environment
    from bot.db.engine import Database

    database = Database(load_settings(read_environment()).database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(run_with)
    await database.close()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
elif context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run `kinfolk db upgrade`.")
else:
    asyncio.run(run_from_settings())
