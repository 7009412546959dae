"""Conditional GETs for what mobile clients poll: a strong ETag over the JSON
body, 304 Not Modified on a matching If-None-Match, and Cache-Control."""

from __future__ import annotations

import hashlib
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
