"""Conditional GETs for what mobile clients poll: a strong ETag over the JSON
body, 304 Not Modified on a matching If-None-Match, and Cache-Control."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
import json
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from sqlalchemy import event
from sqlalchemy.orm import Session

from shared.web.ratelimit import scope_client_address


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return etag in candidates


def _json_body(content: Any) -> bytes:
    return json.dumps(jsonable_encoder(content), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def cache_control(max_age: int, public: bool = True) -> str:
    return f"{'public' if public else 'private'}, max-age={max_age}, must-revalidate"


def _respond(request: Request, etag: str, body: bytes, max_age: int, public: bool,
             media_type: str = "application/json") -> Response:
    headers = {"ETag": etag, "Cache-Control": cache_control(max_age, public),
               **getattr(request.state, "rate_limit_headers", {})}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def conditional_body(request: Request, body: bytes, *, media_type: str, max_age: int = 5, public: bool = True,
                     etag: str | None = None) -> Response:
    """`conditional_json` for a body already rendered (the portal's pages); `etag` when already known."""
    return _respond(request, etag or _etag(body), body, max_age, public, media_type)


def body_etag(body: bytes) -> str:
    return _etag(body)


def conditional_json(request: Request, content: Any, *, max_age: int = 5, public: bool = True) -> Response:
    """200 with the JSON body and its ETag, or 304 with no body when the client has it."""
    body = _json_body(content)
    return _respond(request, _etag(body), body, max_age, public)


NOT_MODIFIED_RESPONSE = {304: {"description": "Not Modified: the If-None-Match ETag is current"}}


_PENDING_INVALIDATIONS = "pingyi.cache_invalidations"


@event.listens_for(Session, "after_commit")
def _invalidate_committed(session: Session) -> None:
    for cache, key in session.info.pop(_PENDING_INVALIDATIONS, ()):
        cache.invalidate(key)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_INVALIDATIONS, None)


class ResponseCache:
    """The last answer per resource, kept `ttl` seconds in this process.

    Mobile clients poll the same few resources; within the window a poll is
    answered from memory (304 or the cached body) without touching the
    database. `ttl` stays well under the Cache-Control max-age, so a replica's
    answer is never older than a client would accept anyway."""

    def __init__(self, ttl: float = 1.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, str, bytes]] = {}
        # One computation per key at a time: a burst of polls at expiry waits for it.
        self._inflight: dict[str, asyncio.Future] = {}

    def get(self, key: str) -> tuple[str, bytes] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    async def get_or_compute(self, key: str, compute) -> tuple[str, bytes]:
        """The cached (etag, body), or `compute()` run once in a worker thread
        while concurrent callers for the same key wait for its result."""
        from starlette.concurrency import run_in_threadpool

        cached = self.get(key)
        if cached is not None:
            return cached
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            body = _json_body(await run_in_threadpool(compute))
            cached = (_etag(body), body)
            self.put(key, *cached)
            pending.set_result(cached)
            return cached
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved: waiting callers re-raise it, no warning otherwise
            raise
        finally:
            self._inflight.pop(key, None)

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)

    def invalidate_after_commit(self, session, key: str) -> None:
        """Forget `key` once `session` commits (a rollback keeps it)."""
        session.info.setdefault(_PENDING_INVALIDATIONS, set()).add((self, key))

    def put(self, key: str, etag: str, body: bytes) -> None:
        if len(self._entries) >= self.max_entries:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, etag, body)


async def cached_conditional_json(
    request: Request, cache: ResponseCache, key: str, compute, *, max_age: int = 5, public: bool = True,
    check: Callable[[bytes], None] | None = None,
) -> Response:
    """Like `conditional_json`, with the body computed (in a worker thread) at
    most once per `cache.ttl` for `key`. `check(body)` may refuse this caller
    (raise a Problem) before anything, 304 included, is answered."""
    etag, body = await cache.get_or_compute(key, compute)
    if check is not None:
        check(body)
    return _respond(request, etag, body, max_age, public)


class PollFastPath:
    """ASGI middleware answering a poll whose ETag is current straight from the
    response cache, before routing: the cheapest possible 304.

    `routes` pairs a path pattern (a regex with named groups) and its route
    template with the cache and the key the endpoint itself uses; anything
    else, or a miss, goes on to the app as usual."""

    def __init__(self, app, routes: list[tuple[str, str, ResponseCache, Callable[..., str], int]],
                 rate_limit: str | None = "public_read") -> None:
        self.app = app
        self.rate_limit = rate_limit
        self.routes = [(re.compile(pattern), template, cache, key, max_age) for pattern, template, cache, key, max_age in routes]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
            if if_none_match is not None:
                for pattern, template, cache, key, max_age in self.routes:
                    match = pattern.fullmatch(scope["path"])
                    if match is None:
                        continue
                    cached = cache.get(key(**match.groupdict()))
                    if cached is not None and _matches(if_none_match.decode("latin-1"), cached[0]):
                        # Public polls count against the public read limit here too; over
                        # it, the route itself answers (429 with its headers).
                        limits = self._rate_limit_headers(scope)
                        if limits is None:
                            break
                        scope["pingyi.route"] = template
                        await send({"type": "http.response.start", "status": 304, "headers": [
                            (b"etag", cached[0].encode()),
                            (b"cache-control", cache_control(max_age).encode()),
                            *limits,
                        ]})
                        await send({"type": "http.response.body", "body": b""})
                        return
                    break
        await self.app(scope, receive, send)

    def _rate_limit_headers(self, scope) -> list[tuple[bytes, bytes]] | None:
        app = scope.get("app")
        limiter = getattr(getattr(app, "state", None), "rate_limiter", None)
        if limiter is None or self.rate_limit is None:
            return []
        verdict = limiter.hit(self.rate_limit, scope_client_address(scope))
        if not verdict.allowed:
            return None
        return [(name.lower().encode(), value.encode()) for name, value in verdict.headers().items()]
