"""Hypothesis strategies built from what the bot declared: its synced command options and
the text inputs of the modals it shows.

Free text is hostile on purpose: mass mentions, user/role/channel mentions of everyone in
the world (and of ids nobody has), markdown, zero-width and right-to-left characters,
emoji sequences, newlines, and text exactly at the declared maximum length. Mixed in are
tokens the commands understand (times, timezones, channel mentions, "all", "default"), so
plenty of examples get past validation and do real work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

from tests.e2e.fuzz.world import Hearth
from tests.fakediscord.world import new_snowflake

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10
TEXT_INPUT = 4
SHORT = 1  # text input style: one line

# Discord's limits where a schema declares none.
OPTION_MAX_LENGTH = 6000
TEXT_INPUT_MAX_LENGTH = 4000
INT_BOUND = 2**53

LOCALES = ("en-US", "en-GB", "de", "fr", "es-419", "pt-BR", "uk", "hi", "ja", "zh-TW", "tr")

# An id no user, role or channel has.
NOBODY = new_snowflake()

ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
BIDI = ("\u202e", "\u202b", "\u2067", "\u200f", "\u061c", "مرحبا", "שלום")
EMOJI = ("💛", "👩‍👩‍👧", "🏳️‍🌈", "🇺🇦", "1️⃣", "🧑🏽‍🦯", "<:kin:123456789012345678>", "<a:wave:1>")
MARKDOWN = (
    "**", "__", "*", "_", "~~", "||", "`", "```", "```py\n", "> ", ">>> ", "# ", "-# ",
    "- ", "1. ", "[link](https://example.com)", "<https://example.com>", "\\", "<t:0:R>",
    "</talk:1>", "https://discord.gg/abc", "\n", "\r\n", "\t", "  ",
)  # fmt: skip
WORDS = (
    "21:30", "9pm", "10:00", "00:00", "23:59", "24:00", "12am", "noon", "7", "-1", "0",
    "Europe/Berlin", "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham",
    "Etc/GMT+12", "berl", "all", "default", "yes", "no", "Y", "{server}", "{", "}", "{0}",
    "%s", "None", "null", "1e9", "job loss, new parent", ",", ";",
)  # fmt: skip
# Text that grows when quoted line by line, markdown-escaped or substituted.
GROWERS = ("a\n", "> x\n", "*", "_~", "{server}", "@everyone\n", "<@&1>\n", "💛\n")
MASS = ("@everyone", "@here", "@everyone@here", "＠everyone", "@\u200beveryone")

_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")


def mention_ids(text: str) -> set[int]:
    """The user and role ids a piece of text mentions (what Discord would parse)."""
    return {int(i) for i in _USER.findall(text)} | {int(i) for i in _ROLE.findall(text)}


def fragments(hearth: Hearth) -> st.SearchStrategy[str]:
    users, roles = [*hearth.user_ids, NOBODY], [*hearth.role_ids, NOBODY]
    channels = [*hearth.channel_ids(), NOBODY]
    mentions = st.one_of(
        st.sampled_from(MASS),
        st.sampled_from(users).map(lambda u: f"<@{u}>"),
        st.sampled_from(users).map(lambda u: f"<@!{u}>"),
        st.sampled_from(roles).map(lambda r: f"<@&{r}>"),
        st.sampled_from(channels).map(lambda c: f"<#{c}>"),
    )
    return st.one_of(
        mentions,
        st.sampled_from(MARKDOWN),
        st.sampled_from(ZERO_WIDTH + BIDI + EMOJI),
        st.sampled_from(WORDS),
        st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=8),
    )


def free_text(
    hearth: Hearth, min_size: int = 0, max_size: int = OPTION_MAX_LENGTH, *, one_line: bool = False
) -> st.SearchStrategy[str]:
    """Hostile text of a length Discord lets through: ``min_size`` to ``max_size``."""
    parts = fragments(hearth)
    channel_mentions = [f"<#{c}>" for c in hearth.channel_ids()]
    short = st.one_of(
        st.sampled_from(WORDS + MASS),  # one token: often a valid value
        st.lists(st.sampled_from(channel_mentions), min_size=1, max_size=3).map(" ".join),
        st.lists(parts, max_size=12).map("".join),  # a short hostile mix
    )
    # As long as allowed: a hostile mix, or one fragment over and over (what grows most
    # when the bot quotes it line by line, escapes or substitutes it).
    longest = st.lists(parts, min_size=1, max_size=6).map(lambda p: _repeat("".join(p), max_size))
    grown = st.sampled_from(GROWERS).map(lambda g: _repeat(g, max_size))
    shapes = st.one_of(short, longest, grown, grown)
    return shapes.map(lambda s: _fit(s, min_size, max_size, one_line=one_line))


def _repeat(text: str, size: int) -> str:
    """``text`` repeated to exactly ``size`` characters: the longest value allowed."""
    text = text or "x"
    return (text * (size // len(text) + 1))[:size]


def _fit(text: str, min_size: int, max_size: int, *, one_line: bool) -> str:
    if one_line:
        text = text.replace("\r", " ").replace("\n", " ")
    text = text[:max_size]
    if len(text) < min_size:
        text += "x" * (min_size - len(text))
    return text


def option_value(hearth: Hearth, spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any value the Discord client could send for this option."""
    kind = spec["type"]
    if spec.get("choices"):
        return st.sampled_from([c["value"] for c in spec["choices"]])
    if kind == STRING:
        lo = spec.get("min_length") or 0
        hi = spec.get("max_length") or OPTION_MAX_LENGTH
        return free_text(hearth, lo, hi)
    if kind in (INTEGER, NUMBER):
        lo = spec.get("min_value", -INT_BOUND)
        hi = spec.get("max_value", INT_BOUND)
        between = st.integers(lo, hi) if kind == INTEGER else st.floats(lo, hi, allow_nan=False)
        return st.one_of(st.just(lo), st.just(hi), between)
    if kind == BOOLEAN:
        return st.booleans()
    if kind == USER:
        return st.sampled_from(hearth.user_ids)
    if kind == ROLE:
        return st.sampled_from(hearth.role_ids)
    if kind == MENTIONABLE:
        return st.sampled_from(hearth.user_ids + hearth.role_ids)
    if kind == CHANNEL:
        return st.sampled_from(hearth.channel_ids(spec.get("channel_types")))
    raise NotImplementedError(f"no fuzz strategy for option type {kind} ({spec['name']!r})")


def options_for(
    hearth: Hearth, schema: list[dict[str, Any]], always: Iterable[str] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """A dict of option values: every required option (and those named in ``always``),
    any subset of the optional ones."""
    given = {o["name"] for o in schema if o.get("required")} | set(always)
    required = {o["name"]: option_value(hearth, o) for o in schema if o["name"] in given}
    optional = {o["name"]: option_value(hearth, o) for o in schema if o["name"] not in given}
    return st.fixed_dictionaries(required, optional=optional)


def leaf_commands(commands: Iterable[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every invocable slash command path ("setup escalation") with its leaf options."""
    found: list[tuple[str, list[dict[str, Any]]]] = []

    def walk(path: list[str], options: list[dict[str, Any]]) -> None:
        subs = [o for o in options if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        if not subs:
            found.append((" ".join(path), options))
        for sub in subs:
            walk([*path, sub["name"]], sub.get("options") or [])

    for command in commands:
        if command.get("type", 1) == 1:
            walk([command["name"]], command.get("options") or [])
    return sorted(found, key=lambda c: c[0])


def text_inputs(modal: dict[str, Any]) -> list[dict[str, Any]]:
    """The text inputs of a modal, whether inside action rows or labels."""
    found = []
    for comp in modal.get("components") or []:
        inner = comp.get("components") or ([comp["component"]] if "component" in comp else [])
        found += [c for c in inner if c.get("type") == TEXT_INPUT]
    return found


def modal_values(hearth: Hearth, modal: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    """What a member could type into this modal: within, and up to, each input's limits;
    optional inputs may be left empty; one-line inputs get no line breaks."""
    required, optional = {}, {}
    for field in text_inputs(modal):
        is_required = field.get("required", True)
        lo = max(field.get("min_length") or 0, 1 if is_required else 0)
        hi = field.get("max_length") or TEXT_INPUT_MAX_LENGTH
        value = free_text(hearth, lo, hi, one_line=field.get("style") == SHORT)
        (required if is_required else optional)[field["custom_id"]] = value
    return st.fixed_dictionaries(required, optional=optional)
