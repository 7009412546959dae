"""首页, a batch's ranking, a department's page, and its attachments."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from services.portal.domain.chart import SOURCE_COLOURS, stacked_bars
from services.portal.site import service
from services.portal.web import page, rendered

router = APIRouter(tags=["public site"])


def _ttl(request: Request) -> float:
    return request.app.state.settings.page_cache_seconds


@router.get("/")
async def home(request: Request, year: int | None = Query(None, ge=2000, le=2100)):
    data = await service.year_overview(request.app.state.upstreams, _ttl(request), year)
    return page(request, "home.html", data)


@router.get("/plans/{plan_id}/batches/{batch}")
async def ranking(request: Request, plan_id: str, batch: int = Path(ge=1, le=12)):
    data = await service.batch_ranking(request.app.state.upstreams, plan_id, batch, _ttl(request))
    chart = stacked_bars(data["ranking"]["ranking"]) if data["ranking"] else None
    return page(request, "ranking.html", {**data, "chart": chart, "colours": SOURCE_COLOURS})


@router.get("/cases/{case_id}")
async def department(request: Request, case_id: str):
    data = await service.department_case(request.app.state.upstreams, case_id, _ttl(request))
    return rendered(request, "department.html", data, key=case_id,
                    sources=(data["case"], *data["timeline_pages"], *data["vote_pages"]))


@router.get("/attachments/{attachment_id}")
async def attachment(request: Request, attachment_id: str):
    upstream = await request.app.state.upstreams.tracking.stream(f"/v1/public/attachments/{attachment_id}")
    headers = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-disposition", "etag", "content-length")}
    return StreamingResponse(upstream.aiter_raw(), media_type=upstream.headers.get("content-type"), headers=headers,
                             background=_closing(upstream))


def _closing(response):
    from starlette.background import BackgroundTask

    return BackgroundTask(response.aclose)
