"""Conditional GETs for what mobile clients poll: a strong ETag over the JSON
body, 304 Not Modified on a matching If-None-Match, and Cache-Control."""

from __future__ import annotations

import hashlib
import time
import json
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder


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


def conditional_json(request: Request, content: Any, *, max_age: int = 5, public: bool = True) -> Response:
    """200 with the JSON body and its ETag, or 304 with no body when the client has it."""
    body = json.dumps(jsonable_encoder(content), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    etag = _etag(body)
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'public' if public else 'private'}, max-age={max_age}, must-revalidate",
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


NOT_MODIFIED_RESPONSE = {304: {"description": "Not Modified: the If-None-Match ETag is current"}}


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

    def get(self, key: str) -> tuple[str, bytes] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def put(self, key: str, etag: str, body: bytes) -> None:
        if len(self._entries) >= self.max_entries:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, etag, body)


async def cached_conditional_json(
    request: Request, cache: ResponseCache, key: str, compute, *, max_age: int = 5, public: bool = True
) -> Response:
    """Like `conditional_json`, with the body computed (in a worker thread) at
    most once per `cache.ttl` for `key`."""
    from starlette.concurrency import run_in_threadpool

    cached = cache.get(key)
    if cached is None:
        body = json.dumps(jsonable_encoder(await run_in_threadpool(compute)), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        cached = (_etag(body), body)
        cache.put(key, *cached)
    etag, body = cached
    headers = {"ETag": etag, "Cache-Control": f"{'public' if public else 'private'}, max-age={max_age}, must-revalidate"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
