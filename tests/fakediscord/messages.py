"""Messages the bot (or a simulated user) posted, with their files and mention rules.

Tests read these to assert what the bot said where, and ``pinged`` answers the question
that matters for a support bot: who would Discord actually notify for this message?
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .world import DM, iso_now, new_snowflake

if TYPE_CHECKING:
    from .world import World

EPHEMERAL = 1 << 6
LOADING = 1 << 7
# With ``enforce_nonce``, Discord returns the earlier message for a nonce the same author
# used in the same channel "in the past few minutes" instead of creating a second one.
NONCE_WINDOW_SECONDS = 300.0

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass
class Attachment:
    """An uploaded file; ``data`` holds the exact bytes the bot sent."""

    id: int
    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None

    def payload(self, base_url: str, channel_id: int) -> dict[str, Any]:
        url = f"{base_url}/attachments/{channel_id}/{self.id}/{self.filename}"
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": url,
            "proxy_url": url,
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.description:
            data["description"] = self.description
        return data


@dataclass
class UploadedFile:
    """One ``files[n]`` part of a multipart request, before it becomes an attachment."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass
class StoredMessage:
    """A message as the stand-in keeps it; ``payload()`` renders Discord's JSON."""

    id: int
    channel_id: int
    author_id: int
    guild_id: int | None = None
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None  # None = field absent in the request
    message_reference: dict[str, Any] | None = None
    tts: bool = False
    type: int = 0
    webhook_id: int | None = None
    interaction: dict[str, Any] | None = None  # interaction_metadata
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # bodies of every edit
    nonce: str | int | None = None  # as sent on creation; echoed back like Discord does
    created_monotonic: float = field(default_factory=time.monotonic)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def custom_ids(self) -> list[str]:
        """The custom ids of its buttons and selects, row by row, in order."""
        return all_custom_ids(self.components)

    def file(self, filename: str) -> bytes:
        """The bytes of the attachment called ``filename`` (KeyError if absent)."""
        for a in self.attachments:
            if a.filename == filename:
                return a.data
        raise KeyError(filename)

    def payload(self, world: World, base_url: str) -> dict[str, Any]:
        users, roles, everyone = mentioned(self, world)
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": world.users[self.author_id].payload(),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": everyone,
            "mentions": [world.users[u].payload() for u in users if u in world.users],
            "mention_roles": [str(r) for r in roles],
            "attachments": [a.payload(base_url, self.channel_id) for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if self.interaction is not None:
            data["interaction_metadata"] = self.interaction
        if self.message_reference:
            data["message_reference"] = self.message_reference
        if self.nonce is not None:
            data["nonce"] = self.nonce
        return data

    def apply(self, body: dict[str, Any], files: list[UploadedFile], *, edit: bool) -> None:
        """Apply a create/edit request body (and uploaded files) the way Discord does."""
        self.history.append(body)
        for key in ("content", "embeds", "components", "message_reference"):
            if key in body:
                value = body[key]
                setattr(self, key, value if value is not None else ([] if key != "content" else ""))
        if self.content is None:
            self.content = ""
        if "embeds" not in body and "embed" in body and body["embed"]:
            self.embeds = [body["embed"]]
        if "allowed_mentions" in body or not edit:
            self.allowed_mentions = body.get("allowed_mentions")
        if "flags" in body and body["flags"] is not None:
            keep = self.flags & EPHEMERAL  # ephemerality cannot change after sending
            self.flags = (int(body["flags"]) & ~LOADING) | keep
        self.tts = bool(body.get("tts", self.tts))
        self._apply_attachments(body, files, edit=edit)
        if edit:
            self.flags &= ~LOADING
            self.edited_timestamp = iso_now()

    def _apply_attachments(
        self, body: dict[str, Any], files: list[UploadedFile], *, edit: bool
    ) -> None:
        by_index = {f.index: f for f in files}
        if "attachments" not in body or body["attachments"] is None:
            keep = self.attachments if edit else []
            self.attachments = keep + [_to_attachment(f, None) for f in files]
            return
        existing = {a.id: a for a in self.attachments}
        result: list[Attachment] = []
        for item in body["attachments"]:
            ref = int(item["id"])
            if ref in existing and ref not in by_index:
                result.append(existing[ref])
            elif ref in by_index:
                result.append(_to_attachment(by_index.pop(ref), item))
        result += [_to_attachment(f, None) for f in by_index.values()]
        self.attachments = result


def _to_attachment(f: UploadedFile, meta: dict[str, Any] | None) -> Attachment:
    meta = meta or {}
    return Attachment(
        id=new_snowflake(),
        filename=meta.get("filename") or f.filename,
        data=f.data,
        content_type=f.content_type,
        description=meta.get("description"),
    )


def mentioned(msg: StoredMessage, world: World) -> tuple[list[int], list[int], bool]:
    """(users, roles, everyone) that the message's content and reply actually ping."""
    targets = pinged(msg, world)
    users = [int(t.split(":")[1]) for t in sorted(targets) if t.startswith("user:")]
    roles = [int(t.split(":")[1]) for t in sorted(targets) if t.startswith("role:")]
    return users, roles, bool(targets & {"everyone", "here"})


def pinged(msg: StoredMessage, world: World | None = None) -> set[str]:
    """Who Discord would notify: ``"everyone"``, ``"here"``, ``"user:<id>"``, ``"role:<id>"``.

    Follows Discord's allowed_mentions rules: with the field absent everything parsed from
    the content pings; with it present only the listed ``parse`` types and explicit
    ``users``/``roles`` do, and a reply pings its author only if ``replied_user`` is true.
    Deliberately worst-case about permissions: it assumes the author MAY mention
    @everyone and every role, so a test fails even if today's server config would have
    saved us. Ephemeral messages notify nobody.
    """
    if msg.ephemeral:
        return set()
    content = msg.content or ""
    found_users = {int(u) for u in _USER_MENTION.findall(content)}
    found_roles = {int(r) for r in _ROLE_MENTION.findall(content)}
    found_everyone = {name for name in ("everyone", "here") if f"@{name}" in content}
    am = msg.allowed_mentions
    reply_author = _reply_author(msg, world)
    if am is None:
        result = found_everyone | {f"user:{u}" for u in found_users}
        result |= {f"role:{r}" for r in found_roles}
        if reply_author is not None:
            result.add(f"user:{reply_author}")
        return result
    parse = set(am.get("parse") or [])
    allowed_users = {int(u) for u in am.get("users") or []}
    allowed_roles = {int(r) for r in am.get("roles") or []}
    result = found_everyone if "everyone" in parse else set()
    users = found_users if "users" in parse else found_users & allowed_users
    roles = found_roles if "roles" in parse else found_roles & allowed_roles
    result |= {f"user:{u}" for u in users} | {f"role:{r}" for r in roles}
    if reply_author is not None and am.get("replied_user"):
        result.add(f"user:{reply_author}")
    return result


def _reply_author(msg: StoredMessage, world: World | None) -> int | None:
    ref = msg.message_reference or {}
    if world is None or not ref.get("message_id"):
        return None
    target = world.message_index.get(int(ref["message_id"]))
    return target.author_id if target is not None else None


def allowed_mentions_errors(body: dict[str, Any]) -> list[str]:
    """Discord rejects ``parse: ["users"]`` together with an explicit ``users`` list."""
    am = body.get("allowed_mentions")
    if not isinstance(am, dict):
        return []
    errors = []
    parse = am.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and am.get(kind):
            errors.append(
                f"allowed_mentions: parse:[{kind}] and {kind}: [ids] are mutually exclusive"
            )
    return errors


class MessageStore:
    """All messages by id, plus lookups by channel; the world indexes replies through it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.by_id: dict[int, StoredMessage] = world.message_index
        # (channel, author, nonce) -> message id, for enforce_nonce.
        self._nonces: dict[tuple[int, int, str], int] = {}
        # Ids of messages returned again for a repeated nonce (one entry per repeat).
        self.nonce_repeats: list[int] = []

    def create(self, channel_id: int, author_id: int, **kwargs: Any) -> StoredMessage:
        channel = self.world.channels.get(channel_id)
        guild_id = channel.guild_id if channel is not None and channel.type != DM else None
        msg = StoredMessage(new_snowflake(), channel_id, author_id, guild_id, **kwargs)
        self.by_id[msg.id] = msg
        if channel is not None and not msg.ephemeral:
            channel.last_message_id = msg.id
        return msg

    def remember_nonce(self, msg: StoredMessage, nonce: str | int) -> None:
        msg.nonce = nonce
        self._nonces[(msg.channel_id, msg.author_id, str(nonce))] = msg.id

    def by_nonce(self, channel_id: int, author_id: int, nonce: str | int) -> StoredMessage | None:
        """The live message ``author_id`` created with ``nonce`` in ``channel_id`` within
        the last ``NONCE_WINDOW_SECONDS``, if any."""
        msg = self.by_id.get(self._nonces.get((channel_id, author_id, str(nonce)), 0))
        if msg is None or msg.deleted:
            return None
        if time.monotonic() - msg.created_monotonic > NONCE_WINDOW_SECONDS:
            return None
        return msg

    def in_channel(self, channel_id: int, *, ephemeral: bool | None = None) -> list[StoredMessage]:
        return [
            m
            for m in self.by_id.values()
            if m.channel_id == channel_id
            and not m.deleted
            and (ephemeral is None or m.ephemeral == ephemeral)
        ]


def all_custom_ids(components: list[dict[str, Any]]) -> list[str]:
    """Every custom id among `components`, however deeply nested (rows, sections, …)."""
    ids = []
    for comp in components:
        if "custom_id" in comp:
            ids.append(comp["custom_id"])
        children = list(comp.get("components") or [])
        children += [comp[k] for k in ("component", "accessory") if isinstance(comp.get(k), dict)]
        ids += all_custom_ids(children)
    return ids
