from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select

from services.scoring.composite import service
from services.scoring.composite.ranking_cache import RANKING_CACHE, ranking_key
from services.scoring.composite.schemas import ComputationOut, SensitivityOut, SourceFiguresSubmit
from services.scoring.domain.composite import Source
from services.scoring.models import ScoreComputation, YearPlan
from services.scoring.plans.service import get_plan
from shared.security.credentials import Principal
from shared.web.caching import NOT_MODIFIED_RESPONSE, cached_conditional_json
from shared.web.pagination import Cursor, Limit, Page, paginate
from shared.web.problems import problem_responses
from shared.security.access import require, require_department
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1/year-plans/{plan_id}/batches/{batch}", tags=["composite scores"])

Batch = Path(ge=1, le=12)
Writer = Annotated[Principal, Depends(require("scoring:write"))]
READ = [Depends(require("scoring:read"))]
# Dashboards poll the ranking: a client may reuse it this long, then revalidates (ETag → 304).
RANKING_MAX_AGE = 5


def acts_for_every_candidate(principal: Principal, plan: YearPlan) -> None:
    """A source's figures rank every candidate against the others: a credential
    bound to one department may not set them (403 other-department)."""
    for department in plan.departments:
        require_department(principal, department)


@router.put(
    "/sources/{source}",
    response_model=ComputationOut,
    responses={**problem_responses(404, 422), 204: {"description": "the same figures again: nothing recomputed"}},
    summary="Submit one source's raw figures and recompute",
)
def submit_source(
    plan_id: str, source: Source, data: SourceFiguresSubmit, session: SessionDep, principal: Writer, batch: int = Batch,
) -> ComputationOut | Response:
    """The office or a constituency's system (`scoring:write`, for every candidate: a department's key is refused)
    submits one source's raw figures for a batch (working committees' scores, deputies' votes counted on paper) and
    the batch is re-ranked. Replaces that source's figures. Causes `score.computed` (composite_ranking, with the new
    slate: voting keeps it for the selection ballot). The same figures again: 204, nothing recomputed. Refusals:
    `unknown-source`, `unknown-departments`, `negative-figure`, `unknown-batch` (422), `not-found` (404),
    `other-department` (403)."""
    acts_for_every_candidate(principal, get_plan(session, plan_id))
    computation = service.submit_figures(session, plan_id, batch, source, data.figures, data.submitted_by)
    session.commit()
    if computation is None:
        return Response(status_code=204)
    return service.computation_out(computation)


@router.post(
    "/sources/net_complaints/from-hotline",
    response_model=ComputationOut,
    responses={**problem_responses(404, 422), 204: {"description": "unchanged: nothing recomputed"}},
    summary="Take net complaints from imported work orders over a period and recompute",
)
def net_complaints_from_hotline(
    plan_id: str,
    session: SessionDep,
    principal: Writer,
    batch: int = Batch,
    start: dt.datetime | None = Query(None, description="received at or after (naive = UTC)"),
    end: dt.datetime | None = Query(None, description="received before"),
) -> ComputationOut | Response:
    """The office (`scoring:write`) takes the net complaints source from the imported 12345 work orders over a period and
    re-ranks the batch. Causes `score.computed` (composite_ranking); unchanged figures: 204, nothing recomputed.
    Refusals: `unknown-batch` (422), `not-found` (404), `other-department` (403)."""
    acts_for_every_candidate(principal, get_plan(session, plan_id))
    start = start.replace(tzinfo=dt.UTC) if start and start.tzinfo is None else start
    end = end.replace(tzinfo=dt.UTC) if end and end.tzinfo is None else end
    computation = service.figures_from_hotline(session, plan_id, batch, start, end)
    session.commit()
    if computation is None:
        return Response(status_code=204)
    return service.computation_out(computation)


@router.get(
    "/ranking",
    response_model=ComputationOut,
    responses={**problem_responses(404), **NOT_MODIFIED_RESPONSE},
    summary="The latest ranking and slate (ETag/304 for polling dashboards)",
    dependencies=READ,
)
async def latest_ranking(plan_id: str, request: Request, batch: int = Batch) -> Response:
    # Answered from a one-second cache that every recomputation clears on commit,
    # so a burst of dashboard polls costs one database read.
    """Dashboards and the office (`scoring:read`) poll the latest ranking and slate of a batch, with each source's
    contribution; ETag, 304 on If-None-Match, private cache for 5 s. Changes nothing. Refusals: `not-found` (404, no
    plan or not computed yet)."""
    def compute() -> ComputationOut:
        with request.app.state.runtime.db.read_sessionmaker() as session:
            return service.computation_out(service.latest_computation(session, plan_id, batch))

    # Behind a credential: private, so shared caches keep no copy.
    return await cached_conditional_json(request, RANKING_CACHE, ranking_key(plan_id, batch), compute,
                                         max_age=RANKING_MAX_AGE, public=False)


@router.get("/computations", response_model=Page[ComputationOut], responses=problem_responses(404), summary="Every computation kept",
            dependencies=READ)
def list_computations(plan_id: str, session: SessionDep, batch: int = Batch, limit: Limit = 50, cursor: Cursor = None) -> Page[ComputationOut]:
    """Auditors (`scoring:read`) list every computation kept for a batch, oldest first, with the inputs it used. Changes
    nothing. Refusals: `not-found` (404), `invalid-cursor` (422)."""
    get_plan(session, plan_id)
    stmt = select(ScoreComputation).where(ScoreComputation.plan_id == plan_id, ScoreComputation.batch == batch)
    return paginate(session, stmt, [ScoreComputation.computed_at, ScoreComputation.id], limit=limit, cursor=cursor, to_item=service.computation_out)


@router.get("/sensitivity", response_model=SensitivityOut, responses=problem_responses(404), summary="How far each weight can move",
            dependencies=READ)
def weight_sensitivity(plan_id: str, session: SessionDep, batch: int = Batch) -> SensitivityOut:
    """The office (`scoring:read`) sees how far each weight can move before the slate changes, and the slate at ±5
    points, before it settles the weights. Changes nothing. Refusals: `not-found` (404)."""
    return service.sensitivity_of(session, plan_id, batch)
