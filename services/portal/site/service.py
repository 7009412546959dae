"""The public site's data, gathered from the three services' public endpoints."""

from __future__ import annotations

import asyncio

from services.portal.upstream import UpstreamProblem, Upstreams
from services.portal.web import today_in_shanghai


async def all_pages(upstream, path: str, *, params: dict | None = None, ttl: float, pages: int = 20) -> list[dict]:
    """Every page of a paginated list, as the upstream sent them (bounded: at most `pages` pages of 100)."""
    found, cursor = [], None
    for _ in range(pages):
        page = await upstream.get(path, params={**(params or {}), "limit": 100, **({"cursor": cursor} if cursor else {})}, ttl=ttl)
        found.append(page)
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return found


async def all_items(upstream, path: str, *, params: dict | None = None, ttl: float, pages: int = 20) -> list:
    return [item for page in await all_pages(upstream, path, params=params, ttl=ttl, pages=pages) for item in page["items"]]


async def year_overview(up: Upstreams, ttl: float, year: int | None) -> dict:
    plans, meetings = await asyncio.gather(all_items(up.scoring, "/v1/public/year-plans", ttl=ttl),
                                           all_items(up.voting, "/v1/public/meetings", ttl=ttl))
    years = sorted({p["evaluation_year"] for p in plans}, reverse=True)
    plan = next((p for p in plans if p["evaluation_year"] == year), None) if year else (
        next((p for p in plans if p["evaluation_year"] == years[0]), None) if years else None)
    year = plan["evaluation_year"] if plan else year
    cases = await all_items(up.tracking, "/v1/public/cases", params={"evaluation_year": year} if year else None, ttl=ttl)
    by_batch: dict[int | None, list] = {}
    for case in cases:
        by_batch.setdefault(case["batch"], []).append(case)
    today = today_in_shanghai().isoformat()
    upcoming = sorted((m for m in meetings if m["held_on"] >= today), key=lambda m: m["held_on"])
    return {"plan": plan, "years": years, "year": year, "cases_by_batch": by_batch, "cases": cases,
            "next_meeting": upcoming[0] if upcoming else None,
            "recent_meetings": sorted((m for m in meetings if m["held_on"] < today), key=lambda m: m["held_on"], reverse=True)[:5]}


async def batch_ranking(up: Upstreams, plan_id: str, batch: int, ttl: float) -> dict:
    plan = await up.scoring.get(f"/v1/public/year-plans/{plan_id}", ttl=ttl)
    try:
        ranking = await up.scoring.get(f"/v1/public/year-plans/{plan_id}/batches/{batch}/ranking", ttl=ttl)
    except UpstreamProblem as exc:
        if exc.slug != "ranking-not-published":
            raise
        ranking = None
    rounds = (await up.voting.get("/v1/public/selection-rounds", params={"plan_id": plan_id, "batch": batch}, ttl=ttl))["items"]
    return {"plan": plan, "batch": batch, "ranking": ranking, "rounds": rounds,
            "batch_info": next((b for b in plan["batches"] if b["batch"] == batch), None)}


async def department_case(up: Upstreams, case_id: str, ttl: float) -> dict:
    case, timeline = await asyncio.gather(
        up.tracking.get(f"/v1/public/cases/{case_id}", ttl=ttl),
        all_pages(up.tracking, f"/v1/public/cases/{case_id}/timeline", ttl=ttl, pages=5),
    )
    votes = await all_pages(up.scoring, "/v1/public/satisfaction-results", params={"department": case["department"],
                            "evaluation_year": case["evaluation_year"]}, ttl=ttl, pages=2)
    return {"case": case, "timeline": [e for p in timeline for e in p["items"]], "votes": [v for p in votes for v in p["items"]],
            "timeline_pages": timeline, "vote_pages": votes}
