"""Every extension under cogs/ loads into the real bot class, and no two define the same
command."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bot.client import KinfolkBot, discover_extensions
from bot.config import Settings
from bot.db.engine import Database
from bot.ui.bound import BoundToServer
from tests.helpers import FrozenClock


def test_discovers_every_feature_package() -> None:
    extensions = discover_extensions()
    assert {"cogs.about", "cogs.setup", "cogs.talk"} <= set(extensions)
    assert all(not name.split(".")[-1].startswith("_") for name in extensions)


async def test_extensions_load_without_command_clashes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    db = Database(url)
    bot = KinfolkBot(settings=Settings(token=None, database_url=url), db=db, clock=FrozenClock())
    try:
        for name in discover_extensions():
            await bot.load_extension(name)  # a duplicate top-level name raises here
        names = Counter(command.qualified_name for command in bot.tree.walk_commands())
        assert names["about"] == 1
        assert names["setup show"] == 1
        assert names["setup escalation"] == 1
        assert names["support duty on"] == 1
        assert names["reminder set"] == 1
        assert [name for name, count in names.items() if count > 1] == []
        # Unloading a feature takes its /setup subcommand away and leaves the others.
        await bot.unload_extension("cogs.talk")
        setup = bot.tree.get_command("setup")
        assert setup is not None
        assert {c.name for c in setup.commands} == {
            "show",
            "timezone",
            "checkins",
            "buddies",
            "buddies-round",
            "reachout",
            "circles",
            "privacy",
        }  # type: ignore[union-attr]
    finally:
        await db.close()


async def test_every_button_whose_custom_id_names_a_server_is_bound_to_it(tmp_path: Path) -> None:
    """A custom id is text from Discord: each dynamic item that carries a server id checks
    it (BoundToServer) before it acts; those that carry a request, check-in, note or group
    id are checked against the member (and server) by their service."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    db = Database(url)
    bot = KinfolkBot(settings=Settings(token=None, database_url=url), db=db, clock=FrozenClock())
    try:
        for name in discover_extensions():
            await bot.load_extension(name)
        items = bot._connection._view_store._dynamic_items.values()
        named = {item: item.__discord_ui_compiled_template__.groupindex for item in items}
        with_server = sorted(i.__name__ for i, groups in named.items() if "guild" in groups)
        assert len(with_server) >= 15
        unbound = [
            i.__name__
            for i, g in named.items()
            if "guild" in g and not issubclass(i, BoundToServer)
        ]
        assert unbound == [], "these act on a server their custom id names without checking it"
        others = sorted(i.__name__ for i, groups in named.items() if "guild" not in groups)
        assert others == [
            "AddContextButton",
            "CancelButton",
            "CancelDelete",
            "ClaimButton",
            "CloseReportButton",
            "ConnectButton",
            "HandOffButton",
            "NoteButton",
            "ReportNoteButton",
            "ResolveButton",
            "ShareButton",
            "ShowContextButton",
            "StartButton",  # talk:start:<urgency>: opens in the server it is pressed in
            "StartRoundButton",  # buddy:start:<seed>: the server it is pressed in
        ]
    finally:
        await db.close()
