"""The in-process cache of each batch's latest ranking, as dashboards poll it
(see shared.web.caching.ResponseCache). Every recomputation forgets its batch's
entry once it commits."""

from __future__ import annotations

from shared.web.caching import ResponseCache

RANKING_CACHE = ResponseCache(ttl=1.0)


def ranking_key(plan_id: str, batch: int) -> str:
    return f"{plan_id}/{batch}"
