"""Request-body validation against Discord's official OpenAPI spec, plus the rules it lacks.

The point is that a payload real Discord would reject (content too long, too many
buttons, a malformed embed) fails our tests instead of failing in production. The spec
is vendored in ``spec/`` (MIT, see ``spec/LICENSE``) and compiled once per process.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

SPEC_PATH = Path(__file__).parent / "spec" / "openapi.json"
SPEC_URI = "urn:discord-openapi"

MAX_CONTENT = 2000  # the spec says 4000; Discord rejects > 2000 for bots
MAX_EMBED_TOTAL = 6000  # sum over title/description/fields/footer/author of all embeds
FIRST_RESPONSE_DEADLINE = 3.0  # seconds from dispatch to the first interaction callback


@dataclass(frozen=True)
class Operation:
    """One spec operation: its path template, compiled regex and body validator."""

    template: str
    method: str
    regex: re.Pattern[str]
    validator: jsonschema.protocols.Validator | None


@functools.cache
def load_spec() -> dict[str, Any]:
    """The spec with one deliberate leniency: integer snowflakes are accepted.

    discord.py sends some ids as JSON integers (e.g. ``allowed_mentions.users``) and
    Discord accepts them, but the spec types snowflakes as strings only.
    """
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    snowflake = spec["components"]["schemas"]["SnowflakeType"]
    spec["components"]["schemas"]["SnowflakeType"] = {
        "anyOf": [copy.deepcopy(snowflake), {"type": "integer", "minimum": 0}]
    }
    return spec


@functools.cache
def _registry() -> referencing.Registry:
    resource = referencing.Resource.from_contents(
        load_spec(), default_specification=referencing.jsonschema.DRAFT202012
    )
    return referencing.Registry().with_resource(SPEC_URI, resource)


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@functools.cache
def operations() -> tuple[Operation, ...]:
    """All operations, most literal path first so ``@original`` beats ``{message_id}``."""
    ops: list[Operation] = []
    for template, item in load_spec()["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        regex = re.compile(f"^{pattern}$")
        for method, op in item.items():
            if method == "parameters":
                continue
            content = op.get("requestBody", {}).get("content", {})
            validator = None
            if "application/json" in content:
                ref = "#/" + _pointer("paths", template, method, "requestBody", "content")
                ref += "/application~1json/schema"
                validator = jsonschema.Draft202012Validator(
                    {"$ref": SPEC_URI + ref}, registry=_registry()
                )
            ops.append(Operation(template, method.upper(), regex, validator))
    ops.sort(key=lambda o: (o.template.count("{"), -len(o.template)))
    return tuple(ops)


def find_operation(method: str, path: str) -> Operation | None:
    """Match a concrete path (without ``/api/v10``) to its spec operation."""
    for op in operations():
        if op.method == method and op.regex.match(path):
            return op
    return None


def spec_errors(method: str, path: str, body: Any) -> list[str]:
    """Readable schema violations for ``body`` (empty if valid or no schema)."""
    op = find_operation(method, path)
    if op is None or op.validator is None or body is None:
        return []
    out = []
    for err in list(op.validator.iter_errors(body))[:5]:
        # best_match descends into anyOf/oneOf to the most specific failing branch.
        deep = jsonschema.exceptions.best_match([err]) or err
        value = repr(deep.instance)
        value = value if len(value) <= 60 else value[:57] + "..."
        out.append(
            f"{deep.json_path}: fails {deep.validator}={str(deep.validator_value)[:80]}"
            f" (got {value})"
        )
    return out


def _embed_chars(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    return total


def message_rule_errors(message: dict[str, Any] | None) -> list[str]:
    """Limits Discord enforces but the spec does not describe."""
    if not isinstance(message, dict):
        return []
    errors = []
    content = message.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        errors.append(f"content: {len(content)} characters, Discord allows {MAX_CONTENT}")
    embeds = message.get("embeds") or []
    total = sum(_embed_chars(e) for e in embeds if isinstance(e, dict))
    if total > MAX_EMBED_TOTAL:
        errors.append(f"embeds: {total} characters in total, Discord allows {MAX_EMBED_TOTAL}")
    return errors


def discord_locales() -> frozenset[str]:
    """The locales Discord accepts as keys of `name_localizations` and the like."""
    schema = load_spec()["components"]["schemas"]["AvailableLocalesEnum"]
    return frozenset(choice["const"] for choice in schema["oneOf"])


def _valid_name(name: Any, *, lowercase: bool) -> bool:
    # Discord: ^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, and lowercase where a
    # lowercase variant exists (slash commands and their options).
    return (
        isinstance(name, str)
        and 0 < len(name) <= 32
        and all(ch.isalnum() or ch in "-_" or "\u0900" <= ch <= "\u0e7f" for ch in name)
        and (not lowercase or name == name.lower())
    )


def _localisations(where: str, item: dict[str, Any], key: str, limit: int) -> list[str]:
    values = item.get(f"{key}_localizations") or {}
    errors = []
    for locale, text in values.items():
        if locale not in discord_locales():
            errors.append(f"{where}.{key}_localizations: {locale!r} is not a Discord locale")
        elif not isinstance(text, str) or not 0 < len(text) <= limit:
            errors.append(f"{where}.{key}_localizations.{locale}: must be 1–{limit} characters")
    return errors


def _names_unique(where: str, items: list[dict[str, Any]]) -> list[str]:
    """Names, and each locale's localised names, must differ among siblings."""
    errors = []
    by_locale: dict[str | None, list[str]] = {None: [i.get("name", "") for i in items]}
    for item in items:
        for locale, text in (item.get("name_localizations") or {}).items():
            by_locale.setdefault(locale, []).append(text)
    for locale, names in by_locale.items():
        if len(names) != len(set(names)):
            errors.append(f"{where}: two share a name{'' if locale is None else ' in ' + locale}")
    return errors


def _option_errors(where: str, option: dict[str, Any]) -> list[str]:
    errors = []
    if not _valid_name(option.get("name"), lowercase=True):
        errors.append(f"{where}.name: {option.get('name')!r} breaks Discord's name rule")
    for locale, name in (option.get("name_localizations") or {}).items():
        if not _valid_name(name, lowercase=True):
            errors.append(f"{where}.name_localizations.{locale}: {name!r} breaks the name rule")
    errors += _localisations(where, option, "name", 32)
    errors += _localisations(where, option, "description", 100)
    for index, choice in enumerate(option.get("choices") or []):
        errors += _localisations(f"{where}.choices[{index}]", choice, "name", 100)
    children = option.get("options") or []
    errors += _names_unique(f"{where}.options", children)
    for index, child in enumerate(children):
        errors += _option_errors(f"{where}.options[{index}]", child)
    return errors


def command_rule_errors(commands: Any) -> list[str]:
    """Rules for registered commands the spec does not express: names (and their
    localisations) valid and lowercase, localisations keyed by Discord's locales and within
    the limits, sibling names distinct in every locale."""
    if not isinstance(commands, list):
        return []
    chat_input = [c for c in commands if isinstance(c, dict) and c.get("type", 1) == 1]
    errors = _names_unique("commands", chat_input)
    for index, command in enumerate(chat_input):
        errors += _option_errors(f"commands[{index}]", command)
    return errors


def warm_up() -> None:
    """Load and compile everything now (done once per process, ~1 s)."""
    operations()
