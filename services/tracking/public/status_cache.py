"""The in-process cache of each case's polled status (see shared.web.caching.ResponseCache)."""

from shared.web.caching import ResponseCache

STATUS_CACHE = ResponseCache(ttl=1.0)


def status_key(case_id: str) -> str:
    return f"case-status:{case_id}"
