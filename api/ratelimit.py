"""Per-token request limits: a token bucket per API token, in memory, per worker process.

Why per token and in memory: the hotline's clients are a few dozen staff consoles and scripts, each with its
own token; a runaway script (a retry loop, a bulk import without batching) must not starve the dispatchers.
Keeping the buckets in the process costs nothing per request and needs no shared store; the price is that
the limit is enforced by each worker separately, so with `--workers N` a token can get up to N times the
configured rate in total. `TRIAGE_RATE_LIMIT_PER_MINUTE=0` switches limiting off.

A bucket holds up to one minute's allowance (bursts are fine: an operator pasting a few calls) and refills
continuously. Requests without a bearer token are not limited here (they get 401 before any work is done).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import problem

MAX_BUCKETS = 10_000
"""Buckets kept at most; the least recently used is dropped first (unknown tokens cannot exhaust memory)."""


class TokenBuckets:
    """`take(key)` spends one request; it returns 0 when allowed, else the seconds until one is available."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: str) -> float:
        now = self.clock()
        tokens, at = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    return None


class RateLimit:
    """ASGI middleware: 429 with `Retry-After` once a token has used up its allowance.

    Plain ASGI (like BodyLimit) and single-threaded: it runs on the event loop, so the buckets need no lock.
    The limit is read from the app's settings at the first request, so tests can build apps with any limit.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.buckets: TokenBuckets | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            per_minute = scope["app"].state.settings.rate_limit_per_minute
            token = _bearer(scope) if per_minute > 0 else None
            if token is not None:
                if self.buckets is None or self.buckets.capacity != per_minute:
                    self.buckets = TokenBuckets(per_minute)
                key = hashlib.sha256(token.encode()).hexdigest()  # the token itself is never kept
                wait = self.buckets.take(key)
                if wait > 0:
                    retry = max(1, math.ceil(wait))
                    detail = (
                        f"too many requests for this token: the limit is {per_minute} per minute; "
                        f"retry after {retry} s"
                    )
                    await problem(429, detail, {"Retry-After": str(retry)})(scope, receive, send)
                    return
        await self.app(scope, receive, send)
