"""The REST pipeline every request goes through: auth, rate limits, parsing, validation.

Implemented as one aiohttp middleware so handlers only deal with the world; the order
(auth, then limits, then body checks) mirrors what Discord does, and every request ends
up in ``fake.requests`` with its status so tests can see exactly what the bot called.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import validation
from .messages import UploadedFile, allowed_mentions_errors

if TYPE_CHECKING:
    from .server import FakeDiscord

API_PREFIX = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY = web.RequestKey("fakediscord_body", object)
FILES = web.RequestKey("fakediscord_files", list)


class ApiError(Exception):
    """Raise from a handler to answer like Discord: ``{"message", "code"}`` + status."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any
    status: int
    time: float
    files: list[UploadedFile]
    query: dict[str, str]


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """discord.py only parses JSON when Content-Type is exactly ``application/json``."""
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(
        body=body, status=status, headers={**(headers or {}), "Content-Type": "application/json"}
    )


def body_of(request: web.Request) -> Any:
    return request.get(BODY)


def files_of(request: web.Request) -> list[UploadedFile]:
    return request.get(FILES) or []


async def parse_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """JSON or multipart (``payload_json`` + ``files[n]``) into (body, files)."""
    ctype = request.content_type
    if ctype == "multipart/form-data":
        body: Any = None
        files: list[UploadedFile] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = part.name or ""  # type: ignore[union-attr]
            data = await part.read()  # type: ignore[union-attr]
            if name == "payload_json":
                body = json.loads(data)
            elif name.startswith("files["):
                index = int(name[6:-1])
                ctype_part = part.headers.get("Content-Type")  # type: ignore[union-attr]
                filename = part.filename or f"file{index}"  # type: ignore[union-attr]
                files.append(UploadedFile(index, filename, bytes(data), ctype_part))
        return body, files
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None


def _message_body(method: str, path: str, body: Any) -> dict[str, Any] | None:
    """The part of a request that is a message, if this request creates/edits one."""
    if not isinstance(body, dict):
        return None
    if path.endswith("/callback"):
        return body.get("data") if body.get("type") in (4, 7) else None
    is_message_route = "/messages" in path or (path.startswith("/webhooks/") and method == "POST")
    return body if method in ("POST", "PATCH") and is_message_route else None


def _is_webhook_route(path: str) -> bool:
    parts = path.strip("/").split("/")
    return parts[0] == "interactions" or (parts[0] == "webhooks" and len(parts) >= 3)


def make_middleware(fake: FakeDiscord) -> Any:
    """Auth, rate limits, body parsing/validation, 404 bookkeeping and request logging."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        path = request.path[len(API_PREFIX) :]
        record = RecordedRequest(
            request.method, path, None, 0, time.monotonic(), [], dict(request.query)
        )
        fake.requests.append(record)
        try:
            response = await _pipeline(fake, request, handler, path, record)
        except ApiError as err:
            response = json_response({"message": err.message, "code": err.code}, err.status)
        record.status = response.status
        return response

    return middleware


async def _pipeline(
    fake: FakeDiscord,
    request: web.Request,
    handler: Handler,
    path: str,
    record: RecordedRequest,
) -> web.StreamResponse:
    method = request.method
    webhook_route = _is_webhook_route(path)
    if not webhook_route and request.headers.get("Authorization") != f"Bot {fake.token}":
        raise ApiError(401, 0, "401: Unauthorized")
    decision = fake.limiter.check(method, path, counts_globally=not webhook_route)
    if decision.status is not None:
        return json_response(decision.body, decision.status, decision.headers)
    body, files = await parse_body(request)
    record.body, record.files = body, files
    request[BODY], request[FILES] = body, files
    problems = validation.spec_errors(method, path, body)
    message = _message_body(method, path, body)
    problems += validation.message_rule_errors(message)
    problems += allowed_mentions_errors(message or {})
    if method == "PUT" and path.endswith("/commands"):
        problems += validation.command_rule_errors(body)
    if problems:
        for problem in problems:
            fake.violation(f"{method} {path}", problem)
        return json_response(
            {"message": "Invalid Form Body", "code": 50035, "errors": {"_errors": problems}},
            400,
            decision.headers,
        )
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        fake.unimplemented.append(f"{method} {path}")
        return json_response({"message": "404: Not Found", "code": 0}, 404)
    except web.HTTPMethodNotAllowed:
        fake.unimplemented.append(f"{method} {path}")
        return json_response({"message": "405: Method Not Allowed", "code": 0}, 405)
    except ApiError as err:
        return json_response(
            {"message": err.message, "code": err.code}, err.status, decision.headers
        )
    response.headers.update(decision.headers)
    return response


def ok(request: web.Request, data: Any = None) -> web.Response:
    """200 with JSON, or 204 when there is nothing to return (as Discord does)."""
    if data is None:
        return web.Response(status=204)
    return json_response(data)


def snowflake(request: web.Request, key: str) -> int:
    raw = request.match_info[key]
    if not raw.isdigit():
        raise ApiError(400, 50035, f"Invalid Form Body: {key} is not snowflake")
    return int(raw)
