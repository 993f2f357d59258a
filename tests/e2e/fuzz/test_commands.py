"""Property-based fuzzing of every slash command the bot syncs (issue 9).

The commands come from what the bot actually synced to the stand-in, walking subcommand
groups, so a new command or option is fuzzed without touching this file. For each command
hypothesis draws who runs it (the owner, an admin with Manage Server, a moderator without
it, an ordinary member), where (including a channel the bot cannot see), in which locale,
and option values built from the command's own schema (autocompleted options are typed
into first, as a member would); when the bot answers
with a modal, the modal is submitted with fuzzed values too. See ``harness`` for the
properties checked after every example.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, target
from hypothesis import strategies as st

from tests.e2e.fuzz.harness import Fuzzer, run_fuzz, scaled
from tests.e2e.fuzz.known_bugs import known_bug
from tests.e2e.fuzz.strategies import (
    LOCALES,
    STRING,
    leaf_commands,
    modal_values,
    options_for,
)

SHARDS = 2  # one bot per shard; shards spread the commands over the xdist workers
EXAMPLES_WITH_OPTIONS = 20
EXAMPLES_WITHOUT_OPTIONS = 4  # who runs it and where is all there is to vary
# PostgreSQL is there for what storage does differently; SQLite gets the full breadth.
POSTGRES_SHARE = 0.5


def in_shard(index: int, shard: int) -> bool:
    return index % SHARDS == shard


@pytest.mark.parametrize("shard", range(SHARDS))
async def test_every_command_keeps_its_promises(fuzzer: Fuzzer, shard: int, backend: str) -> None:
    hearth = fuzzer.hearth
    commands = leaf_commands(fuzzer.fake.global_commands)
    assert len(commands) > 30, "fewer commands synced than Kinfolk has"
    mine = [c for i, c in enumerate(commands) if in_shard(i, shard)]
    places = [hearth.general, hearth.checkins, hearth.locked]
    failures: list[str] = []
    for path, schema in mine:
        strategy = st.tuples(
            st.sampled_from(hearth.invokers),
            st.sampled_from(places),
            st.sampled_from(LOCALES),
            options_for(hearth, schema),
            st.data(),
        )
        autocompleted = [o["name"] for o in schema if o.get("autocomplete")]

        def example(
            drawn: tuple[Any, ...],
            path: str = path,
            schema: list[dict[str, Any]] = schema,
            auto: list[str] = autocompleted,
        ) -> None:
            member, channel, locale, options, data = drawn
            assume(not known_bug(hearth, path, schema, options))
            fuzzer.typed(options)
            where = (hearth.guild_id, channel, member)
            for name in auto:
                if name in options:  # typing into the field first, as a member would
                    fuzzer.run(fuzzer.autocomplete(where, path, options, name, locale))
            handle = fuzzer.run(fuzzer.invoke(where, path, options, locale))
            if handle.modal is not None:
                values = data.draw(modal_values(hearth, handle.modal), label="modal")
                fuzzer.typed(values)
                fuzzer.run(fuzzer.submit(handle, values, locale))
            if path == "setup escalation":
                hearth.escalation_roles |= {
                    v for k, v in options.items() if k.endswith("_role") and v != hearth.guild_id
                }
            target(fuzzer.run(fuzzer.check()), label="fullest message")

        has_options = any(o["type"] >= STRING for o in schema)
        examples = EXAMPLES_WITH_OPTIONS if has_options else EXAMPLES_WITHOUT_OPTIONS
        if backend == "postgresql":
            examples = max(2, round(examples * POSTGRES_SHARE))
        try:
            await run_fuzz(strategy, example, examples)
        except Exception as error:  # keep fuzzing the other commands; report them all
            failures.append(f"/{path}: {error}")
    assert not failures, "\n\n".join(failures)
    assert fuzzer.examples >= len(mine) * scaled(2)
