"""Rate limits on the public vote and public reads (and per credential), with
the `limits` library's moving window: 429 with Retry-After and X-RateLimit-*.

Storage is in memory per process by default; point RATE_LIMIT_STORAGE_URI at
Redis (`redis://host:6379`) to share the counts between replicas (the `limits`
library's moving window). In memory we count ourselves: `limits`' memory
storage starts a thread every 10 ms that walks every key it has ever seen and
never forgets one, which on a public vote (one key per voter) grows for the
whole poll and cost about 0.45 ms per vote (docs/benchmarks-voting.md).

    @router.get(..., dependencies=[Depends(rate_limit("public_read"))])

or, keyed by something only the endpoint knows (a voter's identity hash):

    enforce(request, response, "public_vote_identity", identity_hash)
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from fastapi import Request, Response
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from shared.problems import Problem

log = structlog.get_logger(__name__)

LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until a slot frees

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


class LocalMovingWindow:
    """A moving window per key in this process: the times of the hits still in
    the window, dropped as they age; keys with nothing left are swept now and then."""

    SWEEP_EVERY = 10_000  # hits

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._since_sweep = 0

    def hit(self, item: RateLimitItem, name: str, key: str) -> Verdict:
        window = item.get_expiry()
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get((name, key))
            if hits is None:
                hits = self._hits[(name, key)] = deque()
            while hits and hits[0] <= now - window:
                hits.popleft()
            allowed = len(hits) < item.amount
            if allowed:
                hits.append(now)
            reset_after = max(1, math.ceil(hits[0] + window - now)) if hits else window
            verdict = Verdict(allowed, item.amount, item.amount - len(hits), reset_after)
            self._since_sweep += 1
            if self._since_sweep >= self.SWEEP_EVERY:
                self._sweep(now)
        return verdict

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        longest = 24 * 3600.0  # no limit here spans more than a day
        self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - longest}

    def __len__(self) -> int:
        return len(self._hits)

    def keys(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._hits)


class RateLimiter:
    """Named limits ("public_read" → "600/minute"), each counted per key."""

    def __init__(self, storage_uri: str, limits: dict[str, str]) -> None:
        self.local = LocalMovingWindow() if storage_uri.startswith("memory://") else None
        self.strategy = None if self.local else MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.limits: dict[str, RateLimitItem] = {name: parse(spec) for name, spec in limits.items()}

    @property
    def in_process(self) -> bool:
        """True when counting needs no I/O (callable from the event loop)."""
        return self.local is not None

    def hit(self, name: str, key: str) -> Verdict:
        item = self.limits[name]
        if self.local is not None:
            return self.local.hit(item, name, key)
        try:
            allowed = self.strategy.hit(item, name, key)
            stats = self.strategy.get_window_stats(item, name, key)
        except Exception as exc:
            # Shared storage down: serve uncounted rather than refuse everyone.
            log.warning("rate_limit_storage_unavailable", limit=name, error=repr(exc))
            return Verdict(True, item.amount, item.amount, item.get_expiry())
        reset_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, item.amount, max(0, stats.remaining), reset_after)


def client_address(request: Request) -> str:
    # Behind a proxy, uvicorn's --forwarded-allow-ips makes this the real client.
    return request.client.host if request.client else "unknown"


def too_many_requests(name: str, verdict: Verdict) -> Problem:
    return Problem(429, "rate-limited", "Too many requests 请求过于频繁",
                   f"the {name.replace('_', ' ')} limit of {verdict.limit} is used up; retry in {verdict.reset_after} s",
                   headers=verdict.headers(), limit=name, retry_after=verdict.reset_after)


def enforce(request: Request, response: Response | None, name: str, key: str) -> Verdict:
    """Count one request against `name` for `key`; 429 when over, else set the headers."""
    verdict = request.app.state.rate_limiter.hit(name, key)
    if not verdict.allowed:
        raise too_many_requests(name, verdict)
    if response is not None:
        response.headers.update(verdict.headers())
    # For endpoints that build their own Response (conditional GETs), which
    # FastAPI's injected `response` headers do not reach.
    request.state.rate_limit_headers = verdict.headers()
    return verdict


def rate_limit(name: str, key: Callable[[Request], str] = client_address) -> Callable[[Request, Response], None]:
    """A dependency counting each request against `name`, keyed by the client's address by default."""

    def dependency(request: Request, response: Response) -> None:
        enforce(request, response, name, key(request))

    dependency.__name__ = f"rate_limit_{name}"
    return dependency
