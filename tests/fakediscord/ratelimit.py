"""Discord-style rate limiting and injectable failures for the stand-in.

The bot must survive Discord's real behaviour: per-route buckets advertised in
``X-RateLimit-*`` headers, a 50 request/second global limit, and the occasional 429,
5xx or 403 at the worst moment. This module decides, per request, which of those the
stand-in answers with; the REST layer only renders the result.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

GLOBAL_LIMIT_PER_SECOND = 50
DEFAULT_BUCKET = (5, 5.0)  # requests per window (seconds) for most routes
# Route templates (method + path with ids replaced) whose real buckets are roomier.
BUCKET_OVERRIDES: dict[str, tuple[int, float]] = {
    "GET /users/@me": (50, 1.0),
    "GET /oauth2/applications/@me": (50, 1.0),
    "GET /gateway/bot": (50, 1.0),
    "GET /channels/{id}/messages": (50, 1.0),
    "GET /guilds/{id}/members/{id}": (50, 1.0),
}


def route_template(method: str, path: str) -> tuple[str, str]:
    """(template, major parameter) — ids become ``{id}``; the first id/token is major."""
    parts = path.strip("/").split("/")
    majors: list[str] = []
    out = []
    for i, part in enumerate(parts):
        is_id = part.isdigit() or (i > 0 and parts[i - 1] in ("webhooks", "interactions"))
        is_token = i >= 2 and parts[i - 2] in ("webhooks", "interactions")
        if is_id or is_token:
            if i <= 2 and parts[0] in ("channels", "guilds", "webhooks", "interactions"):
                majors.append(part)  # webhook/interaction buckets are per id AND token
            out.append("{id}")
        else:
            out.append(part)
    return f"{method} /" + "/".join(out), "+".join(majors)


@dataclass
class Bucket:
    limit: int
    window: float
    remaining: int = 0
    reset_at: float = 0.0

    def take(self, now: float) -> bool:
        if now >= self.reset_at:
            self.remaining = self.limit
            self.reset_at = now + self.window
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass
class InjectedFailure:
    method: str
    path_regex: re.Pattern[str]
    status: int
    count: int
    retry_after: float
    code: int | None
    hits: int = 0


@dataclass
class Decision:
    """What to answer: ``status`` None means "go ahead", else an error response."""

    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    body: dict[str, Any] | None = None


class RateLimiter:
    """Per-route buckets, the global limit and injected failures, in Discord's order."""

    def __init__(
        self,
        default_bucket: tuple[int, float] = DEFAULT_BUCKET,
        global_limit: int = GLOBAL_LIMIT_PER_SECOND,
    ) -> None:
        self.default_bucket = default_bucket
        self.global_limit = global_limit  # requests per second over all routes
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.global_window: deque[float] = deque()
        self.failures: list[InjectedFailure] = []

    def inject_failure(
        self,
        method: str,
        path_regex: str,
        status: int = 429,
        count: int = 1,
        retry_after: float = 0.05,
        code: int | None = None,
    ) -> InjectedFailure:
        failure = InjectedFailure(
            method.upper(), re.compile(path_regex), status, count, retry_after, code
        )
        self.failures.append(failure)
        return failure

    def check(self, method: str, path: str, *, counts_globally: bool) -> Decision:
        now = time.monotonic()
        injected = self._injected(method, path)
        if injected is not None:
            return injected
        if counts_globally:
            while self.global_window and now - self.global_window[0] >= 1.0:
                self.global_window.popleft()
            if len(self.global_window) >= self.global_limit:
                retry = 1.0 - (now - self.global_window[0])
                return self._too_many(retry, scope="global")
            self.global_window.append(now)
        template, major = route_template(method, path)
        limit, window = BUCKET_OVERRIDES.get(template, self.default_bucket)
        bucket = self.buckets.setdefault((template, major), Bucket(limit, window))
        ok = bucket.take(now)
        reset_after = max(bucket.reset_at - now, 0.0)
        headers = {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(bucket.remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(template.encode()).hexdigest()[:16],  # noqa: S324
        }
        if ok:
            return Decision(headers=headers)
        decision = self._too_many(reset_after, scope="user")
        decision.headers = {**headers, **decision.headers}
        return decision

    def _injected(self, method: str, path: str) -> Decision | None:
        for failure in self.failures:
            if failure.hits >= failure.count:
                continue
            if failure.method not in (method, "*") or not failure.path_regex.search(path):
                continue
            failure.hits += 1
            if failure.status == 429:
                return self._too_many(failure.retry_after, scope="user")
            if failure.status == 403:
                code = failure.code if failure.code is not None else 50013
                message = (
                    "Cannot send messages to this user" if code == 50007 else "Missing Permissions"
                )
                return Decision(status=403, body={"message": message, "code": code})
            text = {500: "500: Internal Server Error", 502: "502: Bad Gateway"}
            body = {"message": text.get(failure.status, f"{failure.status}: Error"), "code": 0}
            return Decision(status=failure.status, body=body)
        return None

    @staticmethod
    def _too_many(retry_after: float, *, scope: str) -> Decision:
        is_global = scope == "global"
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Scope": scope,
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": is_global,
        }
        return Decision(status=429, headers=headers, body=body)
