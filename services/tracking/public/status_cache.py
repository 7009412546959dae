"""The in-process cache of each case's polled status (see shared.caching.ResponseCache)."""

from shared.caching import ResponseCache

STATUS_CACHE = ResponseCache(ttl=1.0)


def status_key(case_id: str) -> str:
    return f"case-status:{case_id}"
