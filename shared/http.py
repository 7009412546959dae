"""HTTP plumbing shared by the services: request ids, access logs, metrics."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import ServiceMetrics

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")

log = structlog.get_logger("pingyi.http")


class RequestContextMiddleware:
    """Accepts or generates X-Request-ID, binds it to every log line and to the
    events the request writes, echoes it, and records route metrics.

    A plain ASGI middleware: cheaper than BaseHTTPMiddleware on hot paths."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, *, access_log: bool = True) -> None:
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
        request_id = request_id or uuid.uuid4().hex
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
                if self.access_log and not template.startswith(("/healthz", "/metrics")):
                    log.info(
                        "http_request",
                        method=scope["method"],
                        path=scope["path"],
                        route=template,
                        status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    )
