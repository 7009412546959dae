from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from services.scoring.models import YearPlan
from services.scoring.plans import service
from services.scoring.plans.schemas import YearPlanCreate, YearPlanOut
from shared.pagination import Cursor, Limit, Page, paginate
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1/year-plans", tags=["year plans"])


@router.post("", status_code=201, response_model=YearPlanOut, responses=problem_responses(409, 422), summary="Create a year plan")
def create_plan(data: YearPlanCreate, session: SessionDep) -> YearPlanOut:
    plan = service.create_plan(session, data)
    session.commit()
    return service.plan_out(plan)


@router.get("", response_model=Page[YearPlanOut], summary="Year plans by year")
def list_plans(session: SessionDep, limit: Limit = 20, cursor: Cursor = None) -> Page[YearPlanOut]:
    return paginate(session, select(YearPlan), [YearPlan.evaluation_year, YearPlan.id], limit=limit, cursor=cursor, to_item=service.plan_out)


@router.get("/{plan_id}", response_model=YearPlanOut, responses=problem_responses(404))
def get_plan(plan_id: str, session: SessionDep) -> YearPlanOut:
    return service.plan_out(service.get_plan(session, plan_id))
