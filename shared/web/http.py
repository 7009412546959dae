"""HTTP plumbing shared by the services: request ids, access logs, metrics."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Protocol
from urllib.parse import parse_qsl

import structlog
from starlette.routing import Match, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.web.problems import PROBLEM_MEDIA_TYPE, Problem

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")

log = structlog.get_logger("pingyi.http")
_access_logger = logging.getLogger("pingyi.http")


class RequestMetrics(Protocol):
    """Where each request's route, status and latency go (the service's `ServiceMetrics`)."""

    def observe_request(self, method: str, route: str, status: int, started: float) -> None: ...


def _new_request_id() -> str:
    """32 hex digits, as uuid4().hex was. Not a secret (a client may send its own): drawn
    from `random`, reseeded after fork, without the getrandom() call of uuid4, which lets
    go of the GIL on every request and waits to take it back from whatever thread (a
    group-commit writer) took it meanwhile (docs/benchmarks-voting.md)."""
    return "%032x" % random.getrandbits(128)


class RequestContextMiddleware:
    """Accepts or generates X-Request-ID, binds it to every log line and to the
    events the request writes, echoes it, and records route metrics.

    A plain ASGI middleware: cheaper than BaseHTTPMiddleware on hot paths."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics, *, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _VALID_REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        request_id = request_id or _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None) or scope.get("pingyi.route") or "unmatched"
                status = status_holder["status"]
                self.metrics.observe_request(scope["method"], template, status, started)
                # Asked first: below INFO (the benchmarks, quiet deployments) the line is not even built.
                if (self.access_log and _access_logger.isEnabledFor(logging.INFO)
                        and not template.startswith(("/healthz", "/metrics"))):
                    log.info(
                        "http_request",
                        method=scope["method"],
                        path=scope["path"],
                        route=template,
                        status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    )


# --- what a request may carry ------------------------------------------------------

MiB = 1024 * 1024
DEFAULT_BODY_LIMIT = 1 * MiB

# Characters no path segment or query value may hold: C0, DEL, C1, and lone
# surrogates. Percent-decoded, they would reach the database (Postgres refuses NUL).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class BodyTooLarge(Exception):
    """Raised from `receive` once a streamed body passes its cap."""


def _problem_bytes(status: int, slug: str, title: str, detail: str, path: str, **extensions) -> bytes:
    return json.dumps(Problem(status, slug, title, detail, **extensions).body(path), ensure_ascii=False).encode()


async def _send_problem(send: Send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    if close:  # the rest of the body is not read: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def body_too_large(limit: int, path: str) -> bytes:
    return _problem_bytes(413, "body-too-large", "Body too large 请求体过大",
                          f"this endpoint takes a body of at most {limit} bytes", path, max_bytes=limit)


class RequestLimits:
    """What every request is checked for before any route sees it.

    - A path holding a control character (NUL included) is 404; a query
      parameter holding one is 422 naming it. Nothing else of the request is
      read, so no such value can reach the database.
    - The body has a cap: `default_limit`, or the route's own (`route_limits`,
      path template → bytes). A Content-Length over it is 413 before the body
      is read; a chunked body is counted as it streams and answered 413 the
      moment it passes the cap, whatever the route was doing with it.
    - OPTIONS answers 204 with an Allow header listing every method of the path
      (Starlette would list only the first matching route's).
    """

    def __init__(self, app: ASGIApp, *, default_limit: int = DEFAULT_BODY_LIMIT,
                 route_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.route_limits = [(compile_path(path)[0], limit) for path, limit in (route_limits or {}).items()]

    def limit_for(self, path: str) -> int:
        for regex, limit in self.route_limits:
            if regex.match(path):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if (bad := _UNSAFE.search(path)) is not None:
            await _send_problem(send, 404, _problem_bytes(
                404, "not-found", "Not found 未找到",
                f"no resource has a control character (U+{ord(bad.group()):04X}) in its path", _printable(path)))
            return
        if (refusal := _query_refusal(scope.get("query_string", b""))) is not None:
            await _send_problem(send, 422, _problem_bytes(422, "validation-error", "Invalid request 请求参数无效",
                                                          f"invalid fields: {refusal[0]['field']}", path,
                                                          errors=refusal))
            return
        if scope["method"] == "OPTIONS" and (allowed := _allowed_methods(scope)):
            await send({"type": "http.response.start", "status": 204,
                        "headers": [(b"allow", ", ".join(allowed).encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        limit = self.limit_for(path)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await _send_problem(send, 413, body_too_large(limit, path), close=True)
                    return
                break
        await self._guarded(scope, receive, send, limit)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        state = {"received": 0, "exceeded": False, "started": False}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["exceeded"] = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            if state["exceeded"] and not state["started"]:
                return  # the route's answer to a body cut short is replaced by the 413 below
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        if state["exceeded"] and not state["started"]:
            await _send_problem(send, 413, body_too_large(limit, scope["path"]), close=True)


def _printable(path: str) -> str:
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}" if ord(m.group()) < 256 else "\ufffd", path)


def _query_refusal(query_string: bytes) -> list[dict] | None:
    if not query_string:
        return None
    # As Starlette reads it: latin-1 bytes, percent-escapes decoded as UTF-8.
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        for text in (key, value):
            if (bad := _UNSAFE.search(text)) is not None:
                field = _printable(key)
                return [{"location": ["query", field], "field": field, "code": "text_control_character",
                         "message": f"must not contain control characters (U+{ord(bad.group()):04X})"}]
    return None


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(scope: Scope) -> list[str]:
    """Every method some route takes on this path (asked of the router, nested routers included)."""
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
    allowed = [m for m in _METHODS if any(r.matches({**scope, "method": m})[0] == Match.FULL for r in routes)]
    return [*allowed, "OPTIONS"] if allowed else []
