"""The `kinfolk` command line.

Configuration and connection problems end in one line naming the setting and the fix,
exit code 2, and no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from sqlalchemy.engine import make_url

from bot import __version__
from bot.config import (
    ConfigError,
    Settings,
    load_settings,
    read_environment,
    unusable_database,
)
from bot.db import migrate
from bot.db.crypto import EncryptionKeyMissing, generate_key
from bot.db.engine import Database
from bot.domain.words import plural
from bot.invite import PERMISSIONS, application_id_from_token, invite_url
from bot.logs import configure_logging

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kinfolk", description="Kinfolk, a peer-support bot.")
    parser.add_argument("--version", action="version", version=f"kinfolk {__version__}")
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="apply migrations, connect to Discord and serve")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply database migrations only")
    commands.add_parser("check", help="validate settings and database without connecting")
    commands.add_parser("keygen", help="print a new ENCRYPTION_KEY")
    commands.add_parser(
        "rotate-key", help="re-encrypt stored text with the first key in ENCRYPTION_KEY"
    )
    invite = commands.add_parser("invite-url", help="print the URL that adds the bot to a server")
    invite.add_argument("--client-id", type=int, help="application id (default: from the token)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keygen":
        print(generate_key())
        return 0
    try:
        settings = load_settings(read_environment(args.env_file))
        configure_logging(settings.log_level, settings.secrets)
        if args.command == "run":
            from bot.runner import serve

            return asyncio.run(serve(settings))
        if args.command == "db":
            return asyncio.run(_upgrade(settings))
        if args.command == "check":
            return asyncio.run(_check(settings))
        if args.command == "rotate-key":
            return asyncio.run(_rotate_key(settings))
        return _invite(settings, args.client_id)
    except ConfigError as error:
        print(f"kinfolk: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except EncryptionKeyMissing as error:
        print(
            f"kinfolk: {error}. Keep the key the text was written with in ENCRYPTION_KEY "
            "(after the new one) until `kinfolk rotate-key` has finished.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 0


def describe_database(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _upgrade(settings: Settings) -> int:
    database = Database(settings.database_url)
    try:
        await migrate.upgrade(database)
        print(f"Database is at revision {await migrate.current_revision(database)}.")
    except Exception as error:
        raise unusable_database(settings.database_url, error) from error
    finally:
        await database.close()
    return 0


async def _check(settings: Settings) -> int:
    settings.require_token()
    settings.require_encryption_keys()
    print(f"Settings: OK (log level {settings.log_level}).")
    database = Database(settings.database_url)
    try:
        current = await migrate.current_revision(database)
    except Exception as error:
        raise unusable_database(settings.database_url, error) from error
    finally:
        await database.close()
    head = migrate.head_revision()
    print(f"Database: reachable ({describe_database(settings.database_url)}).")
    if current == head:
        print(f"Schema: up to date (revision {head}).")
        return 0
    print(f"Schema: at revision {current or 'none'}, newest is {head}: run `kinfolk db upgrade`.")
    return 1


async def _rotate_key(settings: Settings) -> int:
    from bot.db.crypto import configure_keys
    from bot.db.rotate import rotate_all

    keys = settings.require_encryption_keys()
    configure_keys(keys)
    database = Database(settings.database_url)
    try:
        await migrate.upgrade(database)
        counts = await rotate_all(database)
    finally:
        await database.close()
    total = sum(counts.values())
    detail = (
        ", ".join(f"{table} {n}" for table, n in sorted(counts.items())) or "nothing stored yet"
    )
    print(f"Re-encrypted {plural(total, 'value')} with the first key in ENCRYPTION_KEY ({detail}).")
    if len(keys) > 1:
        others, them = ("key is", "it") if len(keys) == 2 else ("keys are", "them")
        print(f"The other {others} no longer needed for stored text: you can remove {them}.")
    return 0


def _invite(settings: Settings, client_id: int | None) -> int:
    application_id = client_id or (
        application_id_from_token(settings.token) if settings.token else None
    )
    if application_id is None:
        raise ConfigError(
            "--client-id",
            "is needed",
            "pass the Application ID from the Developer Portal, or set DISCORD_TOKEN",
        )
    print(invite_url(application_id))
    print("\nPermissions requested:")
    for name, why in PERMISSIONS.values():
        print(f"  {name}: {why}")
    return 0
