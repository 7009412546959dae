from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select

from services.scoring.composite.service import recompute_ranked_batches
from services.scoring.models import YearPlan
from services.scoring.plans import service
from services.scoring.plans.schemas import YearPlanCreate, YearPlanOut, YearPlanUpdate
from shared.security.credentials import Principal
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page, paginate
from shared.web.problems import problem_responses
from shared.security.access import require
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1/year-plans", tags=["year plans"])

Admin = Annotated[Principal, Depends(require("scoring:admin"))]
READ = [Depends(require("scoring:read"))]


@router.post("", status_code=201, response_model=YearPlanOut, responses=problem_responses(409, 422), summary="Create a year plan")
def create_plan(data: YearPlanCreate, session: SessionDep, idem: IdempotencyDep, principal: Admin) -> YearPlanOut:
    """The committee's office (`scoring:admin`) sets out the year's evaluation plan (评议工作方案): batches and their months
    and seats, the five sources' weights, the candidate departments, the competitive ratio, the satisfaction rule and
    what follows a second 不满意. Takes an `Idempotency-Key`. Causes no event. Refusals: `plan-exists` (409, one plan per
    year), `weights-not-100`, `plan-without-departments`, `duplicate-departments`, `duplicate-batches`,
    `invalid-surplus` (422), `idempotency-key-reused` (422)."""
    if (stored := idem.replay(session)) is not None:
        return stored
    body = service.plan_out(service.create_plan(session, data))
    idem.record(session, 201, body)
    session.commit()
    return body


@router.patch(
    "/{plan_id}",
    response_model=YearPlanOut,
    responses=problem_responses(404, 422),
    summary="Change a year plan; batches already ranked are recomputed under it",
)
def update_plan(plan_id: str, data: YearPlanUpdate, session: SessionDep, principal: Admin) -> YearPlanOut:
    """The committee's office (`scoring:admin`) changes a plan; omitted fields keep their value and the merged plan is
    checked like a new one. When batches, weights, departments, normalisation, ratio or escalation policy change,
    every batch already ranked is recomputed, each causing `score.computed` (composite_ranking) with a new slate.
    Refusals: `not-found` (404), `weights-not-100`, `plan-without-departments`, `duplicate-departments`,
    `duplicate-batches`, `invalid-surplus` (422)."""
    plan, changed = service.update_plan(session, plan_id, data)
    if changed & set(service.RANKING_FIELDS):
        why = f"plan updated by {principal.name} ({', '.join(sorted(changed))})"
        recompute_ranked_batches(session, plan, triggered_by=why[:200])
    session.commit()
    return service.plan_out(plan)


@router.get("", response_model=Page[YearPlanOut], summary="Year plans by year", dependencies=READ)
def list_plans(session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[YearPlanOut]:
    """The office and integrators (`scoring:read`) list the year plans by year. Changes nothing. Refusals:
    `invalid-cursor` (422)."""
    return paginate(session, select(YearPlan), [YearPlan.evaluation_year, YearPlan.id], limit=limit, cursor=cursor, to_item=service.plan_out)


@router.get("/{plan_id}", response_model=YearPlanOut, responses=problem_responses(404), summary="One year plan", dependencies=READ)
def get_plan(plan_id: str, session: SessionDep) -> YearPlanOut:
    """The office and integrators (`scoring:read`) read one plan in full. Changes nothing. Refusals: `not-found` (404)."""
    return service.plan_out(service.get_plan(session, plan_id))
