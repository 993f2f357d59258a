"""Every extension under cogs/ loads into the real bot class, and no two define the same
command."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import discord
import pytest

from bot.client import KinfolkBot, discover_extensions
from bot.config import Settings
from bot.db.engine import Database
from bot.ui.bound import BoundToServer
from bot.ui.feature import FeatureCog, Views, setup_command
from bot.ui.modals import ModalRoutes
from bot.ui.reachout_ask import AskButton
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
            "language",
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
    # By pattern: a press is dispatched by its custom id's pattern (and a feature loaded
    # again, as other tests here do, has new classes for the same buttons).
    registered = {p.pattern for p in every_feature._connection._view_store._dynamic_items}
    defined = _concrete_dynamic_items()
    assert len(defined) >= 30
    missing = [
        c.__qualname__
        for c in defined
        if c.__discord_ui_compiled_template__.pattern not in registered
    ]
    assert sorted(missing) == []


async def test_a_view_to_send_is_not_kept_and_takes_only_dynamic_items() -> None:
    view = view_of(ConsentButton(1, True), ConsentButton(1, False))
    assert view.is_finished()  # discord.py stores and times only views not yet finished
    assert [c["custom_id"] for row in view.to_components() for c in row["components"]] == [
        "checkin:consent:1:yes",
        "checkin:consent:1:no",
    ]
    with pytest.raises(TypeError, match="not a DynamicItem"):
        view_of(discord.ui.Button(label="plain", custom_id="plain"))


def _what_features_added(bot: KinfolkBot) -> dict[str, set[str]]:
    def name(thing: Any) -> str:
        return f"{thing.__module__}.{thing.__qualname__}"

    return {
        "buttons": {name(c) for c in bot._connection._view_store._dynamic_items.values()},
        "outbox kinds": set(bot.outbox.handlers),
        "outbox views": set(bot.sender.views),
        "forms": {p.pattern for p in bot.modals.patterns},
        "commands": {c.qualified_name for c in bot.tree.walk_commands()},
        "cogs": set(bot.cogs),
        "listeners": {f"{event}:{name(f)}" for event, fs in bot.extra_events.items() for f in fs},
    }


async def test_every_feature_takes_away_on_unload_exactly_what_it_added(
    every_feature: KinfolkBot,
) -> None:
    """Each feature declares once what it adds (bot.ui.feature.FeatureCog); unloading it
    leaves every other feature as it was, and loading it again restores it all."""
    bot = every_feature
    everything = _what_features_added(bot)
    assert all(everything.values())
    assert "checkin:note-form:(?P<id>[0-9]{1,20})" in everything["forms"]
    for extension in discover_extensions():
        await bot.unload_extension(extension)
        without = _what_features_added(bot)
        assert all(without[kind] <= everything[kind] for kind in everything)
        gone = {kind: everything[kind] - without[kind] for kind in everything}
        assert gone["commands"], f"{extension} added no command"
        # What went was its own: its listeners, and buttons of its package or bot.ui.
        assert all(n.split(":")[1].startswith(extension + ".") for n in gone["listeners"])
        assert all(n.startswith((extension + ".", "bot.ui.")) for n in gone["buttons"])
        await bot.load_extension(extension)
        assert _what_features_added(bot) == everything, f"{extension} did not come back whole"
    for extension in discover_extensions():
        await bot.unload_extension(extension)
    assert _what_features_added(bot) == {kind: set() for kind in everything}


async def test_a_form_no_feature_declared_is_left_alone_and_a_failing_one_is_answered() -> None:
    routes = ModalRoutes()
    seen: list[str] = []

    async def note(interaction: discord.Interaction, match: re.Match[str]) -> None:
        seen.append(match["id"])
        raise RuntimeError("the database went away")

    pattern = re.compile(r"checkin:note-form:(?P<id>[0-9]{1,20})")
    routes.add({pattern: note})
    with pytest.raises(ValueError, match="two features"):
        routes.add({re.compile(pattern.pattern): note})
    answered: list[BaseException] = []

    class Submitted:
        type = discord.InteractionType.modal_submit
        data: ClassVar[dict[str, str]] = {"custom_id": "checkin:note-form:42"}

    async def report(interaction: object, error: BaseException) -> None:
        answered.append(error)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bot.ui.modals.report", report)
        assert await routes.dispatch(Submitted()) is True  # type: ignore[arg-type]
        Submitted.data = {"custom_id": "circle:name-form:1:emotional"}
        assert await routes.dispatch(Submitted()) is False  # type: ignore[arg-type]
    assert seen == ["42"]
    assert [str(e) for e in answered] == ["the database went away"]
    routes.remove({pattern: note})
    assert routes.patterns == []


# Buttons and forms already posted in Discord keep the custom ids they were sent with, for as
# long as the message exists: a pattern that changes (or goes) strands every one of them. A
# new button adds its line here; an old one's line changes only with a way to read old ids.
POSTED_BUTTON_PATTERNS = [
    r"buddy:connect:(?P<group>[0-9]{1,20}):(?P<answer>yes|not_yet|not_fit)",
    r"buddy:start:(?P<seed>[0-9]{1,7})(?::(?P<number>[0-9]{1,9}))?",
    r"checkin:consent:(?P<guild>[0-9]{1,20}):(?P<answer>yes|no)",
    r"checkin:export:(?P<guild>[0-9]{1,20})",
    r"checkin:forget:(?P<guild>[0-9]{1,20})(?P<sure>:sure)?",
    r"checkin:mood:(?P<guild>[0-9]{1,20}):(?P<mood>[1-5])",
    r"checkin:note:(?P<id>[0-9]{1,20})",
    r"checkin:share:(?P<id>[0-9]{1,20})",
    r"checkin:start:(?P<guild>[0-9]{1,20})",
    r"checkin:talk:(?P<guild>[0-9]{1,20})",
    r"circle:add:(?P<guild>[0-9]{1,20})",
    r"circle:milestones:(?P<guild>[0-9]{1,20}):(?P<on>on|off)",
    r"circle:name:(?P<guild>[0-9]{1,20}):(?P<kind>emotional|practical|informational|companionship)",
    r"circle:notes-off:(?P<guild>[0-9]{1,20})",
    r"circle:notes:(?P<guild>[0-9]{1,20}):(?P<on>on|off)",
    r"circle:pick:(?P<guild>[0-9]{1,20}):(?P<kind>emotional|practical|informational|companionship)",
    r"circle:remove:(?P<guild>[0-9]{1,20})",
    r"circle:report-close:(?P<note>[0-9]{1,20})",
    r"circle:report:(?P<note>[0-9]{1,20})",
    r"privacy:delete:(?P<guild>[0-9]{1,20})",
    r"privacy:keep",
    r"reachout:answer:(?P<guild>[0-9]{1,20}):(?P<choice>busy|checkin|talk|pause|stop)",
    r"reachout:ask:(?P<guild>[0-9]{1,20}):(?P<answer>yes|no)",
    r"talk:cancel:(?P<id>[0-9]{1,20})",
    r"talk:claim:(?P<id>[0-9]{1,20})",
    r"talk:context:(?P<id>[0-9]{1,20})",
    r"talk:handoff:(?P<id>[0-9]{1,20})",
    r"talk:resolve:(?P<id>[0-9]{1,20})",
    r"talk:show:(?P<id>[0-9]{1,20})",
    r"talk:start:(?P<urgency>chat|struggling|crisis)",
]
POSTED_FORM_PATTERNS = [
    r"checkin:note-form:(?P<id>[0-9]{1,20})",
    r"circle:name-form:(?P<guild>[0-9]{1,20}):(?P<kind>emotional|practical|informational|companionship)",
    r"talk:context-modal:(?P<id>[0-9]{1,20})",
]


def test_the_custom_ids_of_buttons_and_forms_already_posted_still_match(
    every_feature: KinfolkBot,
) -> None:
    store = every_feature._connection._view_store
    assert sorted(p.pattern for p in store._dynamic_items) == sorted(POSTED_BUTTON_PATTERNS)
    assert sorted(p.pattern for p in every_feature.modals.patterns) == sorted(POSTED_FORM_PATTERNS)


async def test_a_button_two_features_send_stays_while_either_is_loaded(
    every_feature: KinfolkBot,
) -> None:
    """The reach-out question is asked under a check-in and after /buddy join too: each of
    those features declares it, and it keeps working while any of them is loaded."""
    bot = every_feature

    def registered() -> set[str]:
        return {p.pattern for p in bot._connection._view_store._dynamic_items}

    ask = AskButton.__discord_ui_compiled_template__.pattern
    for extension in ("cogs.reachout", "cogs.buddies"):
        await bot.unload_extension(extension)
        assert ask in registered(), f"gone with {extension}"
    await bot.unload_extension("cogs.checkins")
    assert ask not in registered()


async def test_a_feature_that_cannot_load_leaves_nothing_behind(every_feature: KinfolkBot) -> None:
    bot = every_feature
    before = _what_features_added(bot)

    class Clashing(FeatureCog):
        dynamic_items = (AskButton,)

        def sender_views(self) -> Views:
            return {"clash:view": lambda args: view_of(AskButton(1, True))}

        @setup_command("checkins", "the same /setup subcommand as the check-ins feature")
        async def checkins(self, interaction: discord.Interaction) -> None:
            raise AssertionError("never registered")

    with pytest.raises(ValueError, match="another feature has"):
        await bot.add_cog(Clashing(bot))
    assert _what_features_added(bot) == before
