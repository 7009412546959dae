"""Public reads (no credential, `public_read` rate limit)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from services.scoring.publication import service
from services.scoring.publication.schemas import PublicRanking, PublicSatisfactionResult, PublicYearPlan
from shared.web.caching import NOT_MODIFIED_RESPONSE, conditional_json
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.web.ratelimit import rate_limit
from shared.ops.runtime import SessionDep
from shared.web.text import DepartmentName

router = APIRouter(prefix="/v1/public", tags=["public"], dependencies=[Depends(rate_limit("public_read"))])

Batch = Path(ge=1, le=12)


@router.get("/year-plans", response_model=Page[PublicYearPlan], summary="Year plans (评议工作方案): batches, months, weights")
def list_year_plans(session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[PublicYearPlan]:
    """The portal and the public (no credential, `public_read` limit) list the year plans: batches, months, weights and
    candidates, never raw inputs. Changes nothing. Refusals: `invalid-cursor` (422), `rate-limited` (429)."""
    return service.list_public_plans(session, limit=limit, cursor=cursor)


@router.get("/year-plans/{plan_id}", response_model=PublicYearPlan, responses=problem_responses(404), summary="One year plan")
def get_year_plan(plan_id: str, session: SessionDep) -> PublicYearPlan:
    """The portal and the public (no credential) read one year plan. Changes nothing. Refusals: `not-found` (404),
    `rate-limited` (429)."""
    return service.public_plan_by_id(session, plan_id)


@router.get("/year-plans/{plan_id}/batches/{batch}/ranking", response_model=PublicRanking,
            responses={**problem_responses(404), **NOT_MODIFIED_RESPONSE},
            summary="A batch's composite ranking with each source's contribution, once its selection vote is held (ETag/304)")
def published_ranking(plan_id: str, request: Request, session: SessionDep, batch: int = Batch):
    """The portal and the public (no credential) read a batch's composite ranking with each source's contribution, once
    its selection vote has closed (the selection meeting held). ETag/304. Changes nothing. Refusals:
    `ranking-not-published` (404, the selection not held yet), `not-found` (404), `rate-limited` (429)."""
    return conditional_json(request, service.published_ranking(session, plan_id, batch), max_age=60)


@router.get("/satisfaction-results", response_model=Page[PublicSatisfactionResult],
            summary="Graded satisfaction votes by meeting date, for a department or a year")
def satisfaction_results(session: SessionDep, limit: Limit = 50, cursor: Cursor = None,
                         department: DepartmentName | None = Query(None),
                         evaluation_year: int | None = Query(None, ge=2000, le=2100)) -> Page[PublicSatisfactionResult]:
    """The portal and the public (no credential) list graded satisfaction votes by meeting date, for a department or a
    year. Changes nothing. Refusals: `invalid-cursor` (422), `rate-limited` (429)."""
    return service.public_satisfaction_results(session, department, evaluation_year, limit=limit, cursor=cursor)


@router.get("/satisfaction-results/{ballot_id}", response_model=PublicSatisfactionResult,
            responses={**problem_responses(404), **NOT_MODIFIED_RESPONSE},
            summary="A satisfaction vote's counts and grade under the plan's rule (ETag/304)")
def satisfaction_result(ballot_id: str, request: Request, session: SessionDep):
    """The portal and the public (no credential) read one satisfaction vote's counts and its grade under the plan's rule,
    once scoring graded it. ETag/304. Changes nothing. Refusals: `not-found` (404), `rate-limited` (429)."""
    return conditional_json(request, service.public_satisfaction_result(session, ballot_id), max_age=30)
