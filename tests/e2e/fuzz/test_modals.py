"""Property-based fuzzing of every modal Kinfolk can show (issue 9).

Each modal is reached through its real path (command → button → modal), then submitted
with fuzzed values inside, and right at, the limits the modal itself declares. What the bot
does with the text afterwards is part of the example: the "few words" of a /talk request are
echoed into the private thread and shown to a moderator; a circle name is drawn into the
circle's picture; crisis resources are rendered for members. See ``harness`` for the
properties checked after every example.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis import target

import cogs
from bot.ui.errors import KinfolkModal
from tests.e2e.fuzz.harness import Fuzzer, run_fuzz, scaled
from tests.e2e.fuzz.strategies import LOCALES, modal_values
from tests.e2e.fuzz.world import Hearth
from tests.fakediscord import InteractionHandle, StoredMessage
from tests.fakediscord.interactions import find_component
from tests.helpers import FrozenClock

EXAMPLES = 10
KINDS = ("emotional", "practical", "informational", "companionship")


@dataclass
class Context:
    fuzzer: Fuzzer
    clock: FrozenClock

    @property
    def hearth(self) -> Hearth:
        return self.fuzzer.hearth


@dataclass
class Opened:
    """The interaction the bot answered with the modal, and what to do once it is sent."""

    handle: InteractionHandle
    after: Callable[[], Awaitable[None]] | None = None


# An opener runs on the bot's loop: it walks the real path to the modal, with what the
# example drew.
Opener = Callable[[Context, Any], Awaitable[Opened]]


def component_id(message: StoredMessage, prefix: str) -> str:
    [found] = [c for c in message.custom_ids if c.startswith(prefix)]
    return found


# ----- the check-in note: /checkin → (consent) → a mood → "Add a private note" ----------
async def open_note(ctx: Context, mood: int) -> Opened:
    fuzzer, hearth = ctx.fuzzer, ctx.hearth
    asked = await fuzzer.invoke((hearth.guild_id, hearth.general, hearth.alice), "checkin", {})
    message = await asked.original_message()
    consent = f"checkin:consent:{hearth.guild_id}:yes"
    if consent in message.custom_ids:
        message = await (await fuzzer.click(message, consent, hearth.alice)).original_message()
    mood_id = f"checkin:mood:{hearth.guild_id}:{mood}"
    saved = await (await fuzzer.click(message, mood_id, hearth.alice)).original_message()
    return Opened(await fuzzer.click(saved, component_id(saved, "checkin:note:"), hearth.alice))


# ----- /talk's "few words": /talk → "Add a few words", claimed before, after or never ----
@dataclass
class TalkPlan:
    feeling: str
    claim: str  # "before" the words are added, "after", or "never"


async def open_context(ctx: Context, plan: TalkPlan) -> Opened:
    fuzzer, hearth = ctx.fuzzer, ctx.hearth
    await close_open_requests(ctx)
    ctx.clock.advance(minutes=2)  # past the one-minute cooldown between requests
    where = (hearth.guild_id, hearth.general, hearth.alice)
    answer = await (
        await fuzzer.invoke(where, "talk", {"feeling": plan.feeling})
    ).original_message()
    request_id = int(component_id(answer, "talk:context:").rsplit(":", 1)[1])
    alert = await the_alert(ctx, request_id)
    if plan.claim == "before":
        await claim(ctx, alert, request_id)
    opened = await fuzzer.click(answer, f"talk:context:{request_id}", hearth.alice)
    return Opened(opened, lambda: after_context(ctx, plan, request_id))


async def after_context(ctx: Context, plan: TalkPlan, request_id: int) -> None:
    """A moderator reads the words; claiming afterwards puts them in the thread's intro."""
    alert = await the_alert(ctx, request_id)
    await ctx.fuzzer.click(alert, f"talk:show:{request_id}", ctx.hearth.mod)
    if plan.claim == "after":
        await claim(ctx, await the_alert(ctx, request_id), request_id)


async def the_alert(ctx: Context, request_id: int) -> StoredMessage:
    fake, hearth = ctx.fuzzer.fake, ctx.hearth

    def alert() -> StoredMessage | None:
        for message in fake.messages(hearth.alerts):
            if f"talk:claim:{request_id}" in message.custom_ids:
                return message
        return None

    return await fake.wait_for(alert, timeout=10, what=f"the alert for request {request_id}")


async def claim(ctx: Context, alert: StoredMessage, request_id: int) -> None:
    await ctx.fuzzer.click(alert, f"talk:claim:{request_id}", ctx.hearth.mod)


async def close_open_requests(ctx: Context) -> None:
    """Resolve alice's earlier request, if still open, so she can ask again."""
    fake, hearth = ctx.fuzzer.fake, ctx.hearth
    for message in fake.messages(hearth.alerts):
        for cid in message.custom_ids:
            button = find_component(message.components, cid) or {}
            if cid.startswith("talk:resolve:") and not button.get("disabled"):
                await ctx.fuzzer.click(message, cid, hearth.mod)


# ----- a circle name: /circle → "Add someone…" (a kind) → "Type a name instead" -----------
async def open_circle_name(ctx: Context, kind: str) -> Opened:
    fuzzer, hearth = ctx.fuzzer, ctx.hearth
    where = (hearth.guild_id, hearth.general, hearth.alice)
    shown = await (await fuzzer.invoke(where, "circle", {})).original_message()
    add = f"circle:add:{hearth.guild_id}"
    question = await (await fuzzer.click(shown, add, hearth.alice, [kind])).original_message()
    return Opened(
        await fuzzer.click(question, f"circle:name:{hearth.guild_id}:{kind}", hearth.alice)
    )


# ----- crisis resources: /setup resources mode:extend|replace ------------------------------
async def open_resources(ctx: Context, drawn: tuple[int, str]) -> Opened:
    member, mode = drawn
    where = (ctx.hearth.guild_id, ctx.hearth.general, member)
    return Opened(await ctx.fuzzer.invoke(where, "setup resources", {"mode": mode}))


@dataclass(frozen=True)
class Path:
    opener: Opener
    plan: Callable[[Hearth], st.SearchStrategy[Any]]


MODALS: dict[str, Path] = {
    "A private note": Path(open_note, lambda h: st.integers(1, 5)),
    "A few words for the team": Path(
        open_context,
        lambda h: st.builds(
            TalkPlan,
            st.sampled_from(["chat", "struggling", "crisis"]),
            st.sampled_from(["before", "after", "never"]),
        ),
    ),
    "Add someone to your circle": Path(open_circle_name, lambda h: st.sampled_from(KINDS)),
    "Your server's crisis resources": Path(
        open_resources,
        lambda h: st.tuples(
            st.sampled_from([h.owner, h.admin]), st.sampled_from(["extend", "replace"])
        ),
    ),
}


def kinfolk_modals() -> set[str]:
    """The title of every modal class in cogs/ (importing every cog module first)."""
    for info in pkgutil.walk_packages(cogs.__path__, "cogs."):
        importlib.import_module(info.name)
    found: set[str] = set()
    stack = list(KinfolkModal.__subclasses__())
    while stack:
        cls = stack.pop()
        found.add(cls.TITLE)
        stack += cls.__subclasses__()
    return found


def test_every_modal_is_fuzzed() -> None:
    assert kinfolk_modals() == set(MODALS)


# Names in any script are fair game; the picture's font lacks some glyphs (drawn as boxes).
@pytest.mark.filterwarnings("ignore:Glyph .* missing from font:UserWarning")
@pytest.mark.parametrize("title", sorted(MODALS))
async def test_every_modal_keeps_its_promises(
    fuzzer: Fuzzer, clock: FrozenClock, title: str
) -> None:
    ctx = Context(fuzzer, clock)
    path = MODALS[title]
    strategy = st.tuples(path.plan(ctx.hearth), st.sampled_from(LOCALES), st.data())
    submitted: list[str] = []

    def example(drawn: tuple[Any, str, st.DataObject]) -> None:
        plan, locale, data = drawn
        opened = fuzzer.run(path.opener(ctx, plan))
        modal = opened.handle.modal
        assert modal is not None, f"the path to {title!r} did not show a modal"
        assert modal["title"] == title
        values = data.draw(modal_values(ctx.hearth, modal), label="values")
        fuzzer.typed(values)
        fuzzer.run(fuzzer.submit(opened.handle, values, locale))
        submitted.append(title)
        if opened.after is not None:
            fuzzer.run(opened.after())
        target(fuzzer.run(fuzzer.check()), label="fullest message")

    await run_fuzz(strategy, example, EXAMPLES)
    assert len(submitted) == scaled(EXAMPLES)
