"""Every extension under cogs/ loads into the real bot class, and no two define the same
command."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.client import KinfolkBot, discover_extensions
from bot.config import Settings
from bot.db.engine import Database
from bot.ui.bound import BoundToServer
from bot.ui.views import view_of
from cogs.checkins._views import ConsentButton
from tests.helpers import FrozenClock


def test_discovers_every_feature_package() -> None:
    extensions = discover_extensions()
    assert {"cogs.about", "cogs.setup", "cogs.escalation"} <= set(extensions)
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
        await bot.unload_extension("cogs.escalation")
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


@pytest.fixture
async def every_feature(tmp_path: Path) -> AsyncIterator[KinfolkBot]:
    """The real bot class with every extension under cogs/ loaded."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    db = Database(url)
    bot = KinfolkBot(settings=Settings(token=None, database_url=url), db=db, clock=FrozenClock())
    try:
        for name in discover_extensions():
            await bot.load_extension(name)
        yield bot
    finally:
        await db.close()


async def test_every_button_whose_custom_id_names_a_server_is_bound_to_it(
    every_feature: KinfolkBot,
) -> None:
    """A custom id is text from Discord: each dynamic item that carries a server id checks
    it (BoundToServer) before it acts; those that carry a request, check-in, note or group
    id are checked against the member (and server) by their service."""
    items = every_feature._connection._view_store._dynamic_items.values()
    named = {item: item.__discord_ui_compiled_template__.groupindex for item in items}
    with_server = sorted(i.__name__ for i, groups in named.items() if "guild" in groups)
    assert len(with_server) >= 15
    unbound = [
        i.__name__ for i, g in named.items() if "guild" in g and not issubclass(i, BoundToServer)
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


def _concrete_dynamic_items() -> set[type]:
    """Every DynamicItem class of Kinfolk's loaded modules that is not only a base for
    others (unloading a feature drops its modules, so earlier copies are left out)."""
    found: set[type] = set()
    todo = list(discord.ui.DynamicItem.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        module = sys.modules.get(cls.__module__)
        current = getattr(module, cls.__qualname__, None) is cls
        if current and cls.__module__.startswith(("cogs.", "bot.")) and not cls.__subclasses__():
            found.add(cls)
    return found


async def test_every_button_class_is_registered_when_its_feature_loads(
    every_feature: KinfolkBot,
) -> None:
    """No view is kept once sent (bot.ui.views): a press reaches its item only through the
    classes registered with `add_dynamic_items`, so one left out would be a dead button."""
    registered = set(every_feature._connection._view_store._dynamic_items.values())
    defined = _concrete_dynamic_items()
    assert len(defined) >= 30
    assert sorted(c.__qualname__ for c in defined - registered) == []


async def test_a_view_to_send_is_not_kept_and_takes_only_dynamic_items() -> None:
    view = view_of(ConsentButton(1, True), ConsentButton(1, False))
    assert view.is_finished()  # discord.py stores and times only views not yet finished
    assert [c["custom_id"] for row in view.to_components() for c in row["components"]] == [
        "checkin:consent:1:yes",
        "checkin:consent:1:no",
    ]
    with pytest.raises(TypeError, match="not a DynamicItem"):
        view_of(discord.ui.Button(label="plain", custom_id="plain"))
