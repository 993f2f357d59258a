"""Building INTERACTION_CREATE payloads and tracking what the bot answered.

Payloads are shaped from the commands the bot actually synced (option types, subcommand
paths, ``resolved`` data) and from the messages/modals the bot actually sent, so a test
cannot invoke something the real Discord client would not let a user send.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .messages import all_custom_ids
from .world import DM, THREAD_TYPES, new_snowflake

if TYPE_CHECKING:
    from .messages import StoredMessage
    from .world import World

APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass
class PendingInteraction:
    """Server-side record of one interaction and every answer the bot gave to it."""

    id: int
    token: str
    type: int
    guild_id: int | None
    channel_id: int
    user_id: int
    dispatched_at: float = field(default_factory=time.monotonic)
    message: StoredMessage | None = None  # the message a component lives on
    response: dict[str, Any] | None = None  # the first callback's body
    response_at: float | None = None
    original: StoredMessage | None = None
    followups: list[StoredMessage] = field(default_factory=list)
    responded: asyncio.Event = field(default_factory=asyncio.Event)
    original_edited: asyncio.Event = field(default_factory=asyncio.Event)


class InteractionHandle:
    """What ``FakeDiscord.invoke``/``click``/... return: the bot's answers, awaitably."""

    def __init__(self, record: PendingInteraction) -> None:
        self.record = record

    @property
    def id(self) -> int:
        return self.record.id

    async def response(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The first callback body the bot sent (``{"type": 4, "data": {...}}`` etc.)."""
        try:
            await asyncio.wait_for(self.record.responded.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"bot did not respond to interaction {self.id} within {timeout}s"
            ) from None
        assert self.record.response is not None
        return self.record.response

    @property
    def response_type(self) -> int | None:
        return self.record.response["type"] if self.record.response else None

    @property
    def is_ephemeral(self) -> bool:
        data = (self.record.response or {}).get("data") or {}
        return bool(int(data.get("flags") or 0) & 64)

    async def original_message(self, timeout: float = 5.0) -> StoredMessage:  # noqa: ASYNC109
        """The interaction's original response message (after any edits)."""
        await self.response(timeout)
        if self.record.original is None:
            raise AssertionError(f"interaction {self.id} has no original response message")
        return self.record.original

    async def answer(self, timeout: float = 10.0) -> StoredMessage:  # noqa: ASYNC109
        """What the member finally sees as the answer: the original response message, and
        when the bot deferred ("thinking…", or a deferred update of a button's message),
        only once the bot has filled it in."""
        message = await self.original_message(timeout)
        if self.response_type in (5, 6):
            try:
                await asyncio.wait_for(self.record.original_edited.wait(), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"interaction {self.id} was deferred and never answered within {timeout}s"
                ) from None
        return message

    @property
    def followups(self) -> list[StoredMessage]:
        return [m for m in self.record.followups if not m.deleted]

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal's ``data`` if the bot answered with a modal (type 9), else None."""
        if self.record.response and self.record.response.get("type") == 9:
            return self.record.response["data"]
        return None

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """Autocomplete choices if the bot answered with them (type 8)."""
        if self.record.response and self.record.response.get("type") == 8:
            return self.record.response["data"]["choices"]
        return None


def new_record(
    kind: int, guild_id: int | None, channel_id: int, user_id: int
) -> PendingInteraction:
    return PendingInteraction(
        new_snowflake(), "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48), kind, guild_id,
        channel_id, user_id,
    )  # fmt: skip


def base_payload(world: World, rec: PendingInteraction, locale: str | None) -> dict[str, Any]:
    """Fields every interaction carries: who, where, with which permissions."""
    user = world.users[rec.user_id]
    channel = world.channels[rec.channel_id]
    payload: dict[str, Any] = {
        "id": str(rec.id),
        "application_id": str(world.application_id),
        "type": rec.type,
        "token": rec.token,
        "version": 1,
        "locale": locale or user.locale,
        "app_permissions": str(world.permissions_in(rec.channel_id, world.bot_user.id)),
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "channel_id": str(rec.channel_id),
        "channel": {**channel.payload(world), "permissions": "0"},
    }
    if rec.guild_id is None:
        payload.update(user=user.payload(), context=1, authorizing_integration_owners={"0": "0"})
        return payload
    guild = world.guilds[rec.guild_id]
    member = guild.members[rec.user_id]
    perms = world.permissions_in(rec.channel_id, rec.user_id)
    payload["channel"]["permissions"] = str(perms)
    payload.update(
        guild_id=str(guild.id),
        guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
        guild_locale=guild.preferred_locale,
        member={**member.payload(), "permissions": str(perms)},
        context=0,
        authorizing_integration_owners={"0": str(guild.id)},
    )
    return payload


def resolve_command(
    commands: list[dict[str, Any]], path: str
) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """Find ``"group sub"`` in synced commands: (command, [group, sub], leaf options)."""
    words = path.split()
    by_name = {c["name"]: c for c in commands if c.get("type", 1) == 1}
    if not words or words[0] not in by_name:
        raise AssertionError(f"command {path!r} was not synced; synced commands: {sorted(by_name)}")
    command = by_name[words[0]]
    options = command.get("options") or []
    for word in words[1:]:
        subs = {o["name"]: o for o in options if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)}
        if word not in subs:
            raise AssertionError(f"{path!r}: no subcommand {word!r}; have {sorted(subs)}")
        options = subs[word].get("options") or []
    if any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in options):
        raise AssertionError(f"{path!r} is a group; name a subcommand")
    return command, words[1:], options


def build_options(
    world: World,
    rec: PendingInteraction,
    schema: list[dict[str, Any]],
    values: dict[str, Any],
    *,
    focused: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Typed option payloads plus ``resolved`` for user/channel/role options."""
    known = {o["name"]: o for o in schema}
    unknown = set(values) - set(known)
    if unknown:
        raise AssertionError(f"unknown options {sorted(unknown)}; command has {sorted(known)}")
    resolved: dict[str, dict[str, Any]] = {}
    out = []
    for name, spec in known.items():
        if name not in values:
            if spec.get("required") and focused is None:
                raise AssertionError(f"required option {name!r} missing")
            continue
        raw = values[name]
        if name == focused:
            out.append({"name": name, "type": spec["type"], "value": str(raw), "focused": True})
            continue
        value = _typed_value(world, rec, spec, raw, resolved)
        choices = [c["value"] for c in spec.get("choices") or []]
        if choices and value not in choices:
            raise AssertionError(f"option {name!r}={value!r} is not one of {choices}")
        out.append({"name": name, "type": spec["type"], "value": value})
    return out, resolved


def _typed_value(
    world: World,
    rec: PendingInteraction,
    spec: dict[str, Any],
    raw: Any,
    resolved: dict[str, dict[str, Any]],
) -> Any:
    kind = spec["type"]
    if kind == STRING:
        return str(raw)
    if kind == INTEGER:
        return int(raw)
    if kind == NUMBER:
        return float(raw)
    if kind == BOOLEAN:
        return bool(raw)
    ident = int(getattr(raw, "id", raw))
    if kind in (USER, MENTIONABLE) and ident in world.users:
        resolved.setdefault("users", {})[str(ident)] = world.users[ident].payload()
        guild = world.guilds.get(rec.guild_id or 0)
        if guild is not None and ident in guild.members:
            member = guild.members[ident].payload(with_user=False)
            member["permissions"] = str(world.permissions_in(rec.channel_id, ident))
            resolved.setdefault("members", {})[str(ident)] = member
        return str(ident)
    if kind in (ROLE, MENTIONABLE) and rec.guild_id and ident in world.guilds[rec.guild_id].roles:
        role = world.guilds[rec.guild_id].roles[ident].payload()
        resolved.setdefault("roles", {})[str(ident)] = role
        return str(ident)
    if kind == CHANNEL and ident in world.channels:
        channel = world.channels[ident]
        data = channel.payload(world)
        data["permissions"] = str(world.permissions_in(ident, rec.user_id))
        if channel.type not in THREAD_TYPES and channel.type != DM:
            data.pop("permission_overwrites", None)
        resolved.setdefault("channels", {})[str(ident)] = data
        return str(ident)
    raise AssertionError(f"option {spec['name']!r}: cannot resolve {raw!r} for type {kind}")


# Select menus whose values are users, roles, mentionables or channels (component types 5-8)
# come with ``resolved`` data, like the matching command options.
_SELECT_VALUE_TYPES = {5: USER, 6: ROLE, 7: MENTIONABLE, 8: CHANNEL}


def select_resolved(
    world: World, rec: PendingInteraction, component_type: int, values: list[str]
) -> dict[str, dict[str, Any]]:
    """The ``resolved`` block Discord sends with an auto-populated select's ``values``."""
    kind = _SELECT_VALUE_TYPES.get(component_type)
    resolved: dict[str, dict[str, Any]] = {}
    if kind is not None:
        for value in values:
            _typed_value(world, rec, {"type": kind, "name": "values"}, value, resolved)
    return resolved


def nest_options(path: list[str], leaf: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wrap leaf options in subcommand / subcommand-group layers, innermost first."""
    options = leaf
    for depth, word in reversed(list(enumerate(path))):
        kind = SUB_COMMAND if depth == len(path) - 1 else SUB_COMMAND_GROUP
        options = [{"name": word, "type": kind, "options": options}]
    return options


def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    """Depth-first search through rows, containers, sections and labels."""
    for comp in components:
        if comp.get("custom_id") == custom_id:
            return comp
        children = list(comp.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                children.append(comp[key])
        found = find_component(children, custom_id)
        if found is not None:
            return found
    return None


def modal_submit_components(modal: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """Shape submitted values like the Discord client does for this exact modal."""
    unknown = set(values) - set(all_custom_ids(modal.get("components") or []))
    if unknown:
        raise AssertionError(f"modal has no inputs {sorted(unknown)}")
    out = []
    for i, comp in enumerate(modal.get("components") or [], start=1):
        if comp["type"] == 1:
            row = [_submitted(c, values) for c in comp.get("components") or []]
            out.append({"type": 1, "id": comp.get("id", i), "components": row})
        elif comp["type"] == 18:
            inner = _submitted(comp["component"], values)
            out.append({"type": 18, "id": comp.get("id", i), "component": inner})
        else:
            out.append({"type": comp["type"], "id": comp.get("id", i)})
    return out


def _submitted(comp: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    cid = comp.get("custom_id")
    if comp["type"] == 4:
        value = str(values.get(cid, comp.get("value") or ""))
        if comp.get("required", True) and not value:
            raise AssertionError(f"text input {cid!r} is required")
        lo, hi = comp.get("min_length") or 0, comp.get("max_length") or 4000
        if value and not lo <= len(value) <= hi:
            raise AssertionError(f"text input {cid!r}: length {len(value)} not in [{lo}, {hi}]")
        return {"type": 4, "id": comp.get("id", 0), "custom_id": cid, "value": value}
    chosen = values.get(cid, [])
    chosen = [str(v) for v in (chosen if isinstance(chosen, list | tuple) else [chosen])]
    return {"type": comp["type"], "id": comp.get("id", 0), "custom_id": cid, "values": chosen}
