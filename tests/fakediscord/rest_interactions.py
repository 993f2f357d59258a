"""REST handlers for application commands, interaction callbacks and webhook follow-ups.

This is where the interaction rules live that the spec cannot express: the 3-second
deadline for the first response, error 40060 on a second acknowledgement, and the
``with_response`` callback body discord.py 2.7 parses (never a 204: that crashes it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .messages import EPHEMERAL, LOADING
from .rest_common import ApiError, body_of, files_of, ok, snowflake

if TYPE_CHECKING:
    from .interactions import PendingInteraction
    from .messages import StoredMessage
    from .server import FakeDiscord

CHAT_INPUT_MESSAGE = 20  # message type of a slash command's original response


class InteractionRoutes:
    """Routes for ``/applications``, ``/interactions`` and ``/webhooks``."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.world = fake.world

    def routes(self) -> list[web.RouteDef]:
        p = "/api/v10"
        app = p + "/applications/{app_id}"
        hook = p + "/webhooks/{app_id}/{token}"
        return [
            web.put(app + "/commands", self.put_commands),
            web.get(app + "/commands", self.get_commands),
            web.put(app + "/guilds/{guild_id}/commands", self.put_commands),
            web.get(app + "/guilds/{guild_id}/commands", self.get_commands),
            web.post(p + "/interactions/{interaction_id}/{token}/callback", self.callback),
            web.post(hook, self.followup),
            web.get(hook + "/messages/{message_id}", self.get_hook_message),
            web.patch(hook + "/messages/{message_id}", self.edit_hook_message),
            web.delete(hook + "/messages/{message_id}", self.delete_hook_message),
        ]

    # ----- application commands -------------------------------------------------------
    def _command_key(self, request: web.Request) -> int | None:
        if snowflake(request, "app_id") != self.world.application_id:
            raise ApiError(403, 20012, "You are not authorized to perform this action")
        return snowflake(request, "guild_id") if "guild_id" in request.match_info else None

    async def put_commands(self, request: web.Request) -> web.Response:
        """Bulk overwrite: keep ids of commands that already existed, like Discord."""
        guild_id = self._command_key(request)
        old = {c["name"]: c for c in self.fake.commands.get(guild_id, [])}
        result = []
        for cmd in body_of(request) or []:
            prev = old.get(cmd["name"])
            stored = {
                "type": 1,
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                "integration_types": [0],
                "contexts": None,
                **cmd,
                "id": prev["id"] if prev else str(self.fake.new_id()),
                "application_id": str(self.world.application_id),
                "version": str(self.fake.new_id()),
            }
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            result.append(stored)
        self.fake.commands[guild_id] = result
        self.fake.commands_synced.set()
        return ok(request, result)

    async def get_commands(self, request: web.Request) -> web.Response:
        return ok(request, self.fake.commands.get(self._command_key(request), []))

    # ----- interaction callback -------------------------------------------------------
    def _interaction(self, request: web.Request, key: str) -> PendingInteraction:
        rec = self.fake.interactions.get(request.match_info["token"])
        if (
            rec is None
            or str(rec.id if key == "id" else self.world.application_id)
            != (request.match_info["interaction_id" if key == "id" else "app_id"])
        ):
            raise ApiError(404, 10062 if key == "id" else 10015, "Unknown interaction")
        return rec

    async def callback(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "id")
        route = f"POST /interactions/{rec.id}/<token>/callback"
        if rec.response is not None:
            self.fake.violation(route, "interaction acknowledged twice (Discord error 40060)")
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        elapsed = time.monotonic() - rec.dispatched_at
        if elapsed > self.fake.response_deadline:
            self.fake.violation(route, f"first response after {elapsed:.2f}s (limit 3s)")
            raise ApiError(404, 10062, "Unknown interaction")
        body = body_of(request) or {}
        kind, data = int(body.get("type") or 0), body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}
        if kind not in allowed.get(rec.type, set()):
            self.fake.violation(
                route, f"callback type {kind} invalid for interaction type {rec.type}"
            )
            raise ApiError(400, 50035, "Invalid Form Body: interaction callback type")
        message = self._apply_callback(rec, kind, data, files_of(request))
        rec.response, rec.response_at = body, time.monotonic()
        rec.responded.set()
        info: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        result: dict[str, Any] = {"interaction": info, "resource": {"type": kind}}
        if message is not None:
            info.update(
                response_message_id=str(message.id),
                response_message_loading=bool(message.flags & LOADING),
                response_message_ephemeral=message.ephemeral,
            )
            result["resource"]["message"] = self.fake.render(message)
            if kind in (4, 7) and not message.ephemeral:
                event = "MESSAGE_CREATE" if kind == 4 else "MESSAGE_UPDATE"
                await self.fake.gateway.dispatch(event, self.fake.render(message))
        return ok(request, result)  # never 204: discord.py parses this body

    def _apply_callback(
        self, rec: PendingInteraction, kind: int, data: dict[str, Any], files: list[Any]
    ) -> StoredMessage | None:
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) & EPHEMERAL
            rec.original = self._new_message(rec, flags | (LOADING if kind == 5 else 0))
            if kind == 4:
                rec.original.apply(data, files, edit=False)
            return rec.original
        if kind in (6, 7):
            if rec.message is None:
                raise ApiError(400, 40004, "Cannot update a message for this interaction")
            rec.original = rec.message
            if kind == 7:
                rec.message.apply(data, files, edit=True)
            return rec.message
        return None  # autocomplete choices / modal: kept in rec.response

    def _new_message(self, rec: PendingInteraction, flags: int) -> StoredMessage:
        user = self.world.users[rec.user_id].payload()
        meta = {
            "id": str(rec.id),
            "type": rec.type,
            "user": user,
            "authorizing_integration_owners": {"0": str(rec.guild_id or 0)},
        }
        kind = CHAT_INPUT_MESSAGE if rec.type == 2 else 0
        return self.fake.store.create(
            rec.channel_id,
            self.world.bot_user.id,
            flags=flags,
            type=kind,
            webhook_id=self.world.application_id,
            interaction=meta,
        )

    # ----- webhook follow-ups and original response -----------------------------------
    def _hook_message(self, request: web.Request, rec: PendingInteraction) -> StoredMessage:
        raw = request.match_info["message_id"]
        if raw == "@original":
            if rec.original is None:
                raise ApiError(404, 10008, "Unknown Message")
            return rec.original
        for msg in rec.followups:
            if str(msg.id) == raw and not msg.deleted:
                return msg
        raise ApiError(404, 10008, "Unknown Message")

    async def followup(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "app")
        if rec.response is None:
            self.fake.violation(
                f"POST /webhooks/{self.world.application_id}/<token>",
                "follow-up sent before the interaction was acknowledged",
            )
            raise ApiError(404, 10015, "Unknown Webhook")
        body = body_of(request) or {}
        loading = rec.original is not None and rec.original.flags & LOADING
        if loading and rec.response.get("type") == 5:
            # Discord turns the first follow-up after a deferral into the original.
            msg = rec.original
            msg.apply(body, files_of(request), edit=True)
            rec.original_edited.set()
        else:
            msg = self._new_message(rec, int(body.get("flags") or 0) & EPHEMERAL)
            msg.apply(body, files_of(request), edit=False)
            rec.followups.append(msg)
        if not msg.ephemeral:
            await self.fake.gateway.dispatch("MESSAGE_CREATE", self.fake.render(msg))
        if request.query.get("wait") in ("true", "1", "True"):
            return ok(request, self.fake.render(msg))
        return ok(request)

    async def get_hook_message(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "app")
        return ok(request, self.fake.render(self._hook_message(request, rec)))

    async def edit_hook_message(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "app")
        msg = self._hook_message(request, rec)
        msg.apply(body_of(request) or {}, files_of(request), edit=True)
        if msg is rec.original:
            rec.original_edited.set()
        if not msg.ephemeral:
            await self.fake.gateway.dispatch("MESSAGE_UPDATE", self.fake.render(msg))
        return ok(request, self.fake.render(msg))

    async def delete_hook_message(self, request: web.Request) -> web.Response:
        rec = self._interaction(request, "app")
        msg = self._hook_message(request, rec)
        msg.deleted = True
        return ok(request)
