"""Running hypothesis against a live bot, and the properties every example must keep.

Hypothesis runs in a worker thread while the test's event loop keeps running the bot and
the stand-in; each step of an example (invoke, click, submit, check) is handed to the loop
with ``run_coroutine_threadsafe``. So one bot serves every example of a test, the bot's
background tasks (outbox, gateway) never stall between examples, and draws that depend on
what the bot answered (a modal's fields) happen in hypothesis' own thread. (Sharing one bot
and database across examples is deliberate: it is what a server lives through. Because
``@given`` wraps an inner function, not the test, pytest's function-scoped fixtures never
meet hypothesis and ``HealthCheck.function_scoped_fixture`` does not arise.)

Properties checked after every example (``Fuzzer.check``):
- every interaction got its first answer within Discord's 3 s (the stand-in records a
  violation otherwise) and nothing the bot sent failed the stand-in's spec validation;
- no unhandled exception: nothing logged at ERROR by ``discord``, ``kinfolk`` or ``bot``,
  and no message offering an "error id";
- no text a member typed pings anyone: no bot message pings @everyone/@here, and no user
  or role mentioned in fuzzed text is pinged unless Kinfolk meant to ping them (the
  escalation roles it was configured with, and members it pairs or puts in a thread —
  only ever the members who invoked commands), and every message sets allowed_mentions.

``check`` also scores how close the longest new message came to Discord's length limits;
the fuzz tests hand that to ``hypothesis.target``, so examples drift towards the replies
most likely to overflow.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests import profiles
from tests.e2e.fuzz.strategies import mention_ids
from tests.e2e.fuzz.world import Hearth
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage

T = TypeVar("T")

# Tasks in which discord.py runs a command, a component or modal callback, or a listener.
BUSY_TASKS = ("CommandTree-invoker", "discord-ui-", "discord.py: ")
ANSWER_TIMEOUT = 5.0  # longer than Discord's 3 s, so a late answer shows as a violation
LOADING = 1 << 7
WATCHED_LOGGERS = ("discord", "kinfolk", "bot")


class ErrorLog(logging.Handler):
    """Collects records at ERROR and above from the bot's and discord.py's loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        taken, self.records = self.records, []
        return [self._describe(r) for r in taken]

    @staticmethod
    def _describe(record: logging.LogRecord) -> str:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        return text

    def install(self) -> Callable[[], None]:
        loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
        for logger in loggers:
            logger.addHandler(self)

        def remove() -> None:
            for logger in loggers:
                logger.removeHandler(self)

        return remove


def stray_pings(pinged: set[str], injected: set[int], intended: set[str]) -> set[str]:
    """The pings of a message that typed text caused: mass mentions always, and any user or
    role mentioned in fuzzed text that Kinfolk did not mean to ping."""
    mass = {t for t in pinged if t in ("everyone", "here")}
    typed = {t for t in pinged - mass if int(t.split(":")[1]) in injected}
    return mass | (typed - intended)


@dataclass
class Fuzzer:
    fake: FakeDiscord
    hearth: Hearth
    loop: asyncio.AbstractEventLoop
    errors: ErrorLog
    injected: set[int] = field(default_factory=set)
    checked: dict[int, int] = field(default_factory=dict)  # message id -> edits checked
    examples: int = 0

    # ----- from hypothesis' thread ------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run one step on the bot's loop and wait for it (from the hypothesis thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def typed(self, *values: Any) -> None:
        """Remember the ids mentioned in text a member typed."""
        for value in values:
            if isinstance(value, dict):
                self.typed(*value.values())
            elif isinstance(value, str):
                self.injected |= mention_ids(value)

    # ----- on the loop --------------------------------------------------------------------
    async def invoke(
        self,
        where: tuple[int, int, int],
        path: str,
        options: dict[str, Any],
        locale: str | None = None,
    ) -> InteractionHandle:
        handle = await self.fake.invoke(*where, path, options, locale=locale)
        return await self.answered(handle)

    async def autocomplete(
        self,
        where: tuple[int, int, int],
        path: str,
        options: dict[str, Any],
        focused: str,
        locale: str | None = None,
    ) -> list[dict[str, Any]]:
        choices = await self.fake.autocomplete(*where, path, options, focused, locale=locale)
        await self.idle()
        return choices

    async def click(
        self,
        message: StoredMessage,
        custom_id: str,
        member: int,
        values: list[str] | None = None,
        locale: str | None = None,
    ) -> InteractionHandle:
        handle = await self.fake.click(message, custom_id, member, values=values, locale=locale)
        return await self.answered(handle)

    async def submit(
        self, handle: InteractionHandle, values: dict[str, str], locale: str | None = None
    ) -> InteractionHandle:
        return await self.answered(await self.fake.submit_modal(handle, values, locale=locale))

    async def answered(self, handle: InteractionHandle) -> InteractionHandle:
        """Wait for the first answer, for a deferred answer to be filled in, and for the
        bot to finish everything it started for the interaction."""
        await handle.response(ANSWER_TIMEOUT)
        original = handle.record.original
        if original is not None and original.flags & LOADING:
            await self.fake.wait_for(
                lambda: not original.flags & LOADING, timeout=30, what="the deferred answer"
            )
        await self.idle()
        return handle

    async def idle(self, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Until no command, component, modal or listener callback is running."""
        deadline = time.monotonic() + timeout
        me = asyncio.current_task()
        while True:
            busy = [
                t
                for t in asyncio.all_tasks()
                if t is not me and not t.done() and t.get_name().startswith(BUSY_TASKS)
            ]
            if not busy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot is still busy after {timeout}s: {busy}")
            await asyncio.sleep(0.005)

    async def check(self) -> float:
        """Every property, over everything the bot did since the last check. Returns how
        close the longest message came to Discord's length limits (1.0 = at the limit), for
        hypothesis to steer towards."""
        await self.idle()
        self.examples += 1
        problems = [f"stand-in: {v}" for v in self.fake.take_violations()]
        problems += [f"unimplemented route: {u}" for u in self.fake.take_unimplemented()]
        problems += [f"logged: {e}" for e in self.errors.take()]
        fullest = 0.0
        for message in self.new_bot_messages():
            problems += self.message_problems(message)
            fullest = max(fullest, fullness(message))
        assert not problems, "\n".join(problems)
        return fullest

    def new_bot_messages(self) -> list[StoredMessage]:
        bot_id = self.fake.world.bot_user.id
        fresh = []
        for message in list(self.fake.world.message_index.values()):
            if message.author_id != bot_id:
                continue
            edits = len(message.history)
            if self.checked.get(message.id) != edits:
                self.checked[message.id] = edits
                fresh.append(message)
        return fresh

    def message_problems(self, message: StoredMessage) -> list[str]:
        where = f"message {message.id} in channel {message.channel_id}"
        problems = []
        texts = [message.content or ""] + [str(b.get("content") or "") for b in message.history]
        if any("error id" in text for text in texts):
            problems.append(f"{where} reports an unhandled error: {message.content[:200]!r}")
        if message.allowed_mentions is None:
            problems.append(f"{where} was sent without allowed_mentions")
        stray = stray_pings(self.fake.pinged(message), self.injected, self.intended_pings())
        if stray:
            problems.append(f"{where} pings {sorted(stray)}: {message.content[:300]!r}")
        return problems

    def intended_pings(self) -> set[str]:
        roles = {f"role:{r}" for r in self.hearth.escalation_roles}
        return roles | {f"user:{u}" for u in self.hearth.invokers}


def embed_chars(embed: dict[str, Any]) -> int:
    """The characters Discord counts towards its 6000 per message (as the stand-in does)."""
    parts = [embed.get("title"), embed.get("description")]
    parts += [(embed.get("footer") or {}).get("text"), (embed.get("author") or {}).get("name")]
    for f in embed.get("fields") or []:
        parts += [f.get("name"), f.get("value")]
    return sum(len(p or "") for p in parts)


def fullness(message: StoredMessage) -> float:
    """How close a message is to Discord's limits: content 2000, all embeds 6000, and any
    one embed description 4096 (1.0 = exactly at a limit)."""
    embeds = [e for e in message.embeds if isinstance(e, dict)]
    total = sum(embed_chars(e) for e in embeds)
    longest = max((len(e.get("description") or "") for e in embeds), default=0)
    return max(len(message.content or "") / 2000, total / 6000, longest / 4096)


def scaled(count: int) -> int:
    """`count` examples under the ci profile, as many as the profile in use asks for
    (tests/profiles.py: HYPOTHESIS_PROFILE=soak for a deeper hunt than CI affords)."""
    return profiles.examples(count)


def fuzz_settings(max_examples: int) -> settings:
    """Reproducible and quiet. No shrinking: every example changes the bot's database, so
    replaying a smaller one rarely reproduces a failure and costs minutes; the failing
    example is reported as found. No deadline: an example is several real round trips."""
    return settings(
        max_examples=scaled(max_examples),
        deadline=None,
        derandomize=not profiles.RANDOM,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.target),
        suppress_health_check=[HealthCheck.too_slow],
        report_multiple_bugs=False,
    )


async def run_fuzz(
    strategy: st.SearchStrategy[T], example: Callable[[T], None], max_examples: int
) -> None:
    """Run ``example`` (which steps the bot through ``Fuzzer.run``) for each drawn value,
    in a worker thread so the bot's loop keeps going."""

    @fuzz_settings(max_examples)
    @given(strategy)
    def fuzz(value: T) -> None:
        example(value)

    await asyncio.to_thread(fuzz)
