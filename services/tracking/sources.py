"""Who changed a case: an event id or the HTTP caller, for the timeline."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import structlog
from fastapi import Request

SHANGHAI = ZoneInfo("Asia/Shanghai")


def http_source(request: Request) -> str:
    request_id = structlog.contextvars.get_contextvars().get("request_id") or "-"
    return f"http:{request.method} {request.url.path} request_id={request_id}"[:200]


def event_source(event_id: object) -> str:
    return f"event:{event_id}"


def today() -> dt.date:
    """Deadlines are calendar days in Asia/Shanghai."""
    return dt.datetime.now(SHANGHAI).date()
