from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from services.scoring.composite import service
from services.scoring.composite.schemas import ComputationOut, SensitivityOut, SourceFiguresSubmit
from services.scoring.domain.composite import Source
from services.scoring.models import ScoreComputation
from services.scoring.plans.service import get_plan
from shared.caching import conditional_json
from shared.pagination import Cursor, Limit, Page, paginate
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1/year-plans/{plan_id}/batches/{batch}", tags=["composite scores"])

Batch = Path(ge=1, le=12)


@router.put(
    "/sources/{source}",
    response_model=ComputationOut,
    responses={**problem_responses(404, 422), 204: {"description": "the same figures again: nothing recomputed"}},
    summary="Submit one source's raw figures and recompute",
)
def submit_source(plan_id: str, source: Source, data: SourceFiguresSubmit, session: SessionDep, batch: int = Batch) -> ComputationOut | Response:
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
    batch: int = Batch,
    start: dt.datetime | None = Query(None, description="received at or after (naive = UTC)"),
    end: dt.datetime | None = Query(None, description="received before"),
) -> ComputationOut | Response:
    start = start.replace(tzinfo=dt.UTC) if start and start.tzinfo is None else start
    end = end.replace(tzinfo=dt.UTC) if end and end.tzinfo is None else end
    computation = service.figures_from_hotline(session, plan_id, batch, start, end)
    session.commit()
    if computation is None:
        return Response(status_code=204)
    return service.computation_out(computation)


@router.get("/ranking", response_model=ComputationOut, responses=problem_responses(404), summary="The latest ranking and slate")
def latest_ranking(plan_id: str, request: Request, session: SessionDep, batch: int = Batch) -> Response:
    return conditional_json(request, service.computation_out(service.latest_computation(session, plan_id, batch)))


@router.get("/computations", response_model=Page[ComputationOut], responses=problem_responses(404), summary="Every computation kept")
def list_computations(plan_id: str, session: SessionDep, batch: int = Batch, limit: Limit = 20, cursor: Cursor = None) -> Page[ComputationOut]:
    get_plan(session, plan_id)
    stmt = select(ScoreComputation).where(ScoreComputation.plan_id == plan_id, ScoreComputation.batch == batch)
    return paginate(session, stmt, [ScoreComputation.computed_at, ScoreComputation.id], limit=limit, cursor=cursor, to_item=service.computation_out)


@router.get("/sensitivity", response_model=SensitivityOut, responses=problem_responses(404), summary="How far each weight can move")
def weight_sensitivity(plan_id: str, session: SessionDep, batch: int = Batch) -> SensitivityOut:
    return service.sensitivity_of(session, plan_id, batch)
