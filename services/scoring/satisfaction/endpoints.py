from __future__ import annotations

from fastapi import APIRouter, Query

from services.scoring.satisfaction import service
from services.scoring.satisfaction.schemas import SatisfactionResultOut
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1/satisfaction-results", tags=["satisfaction"])


@router.get("", response_model=list[SatisfactionResultOut], summary="Graded satisfaction votes")
def list_results(
    session: SessionDep,
    department: str | None = Query(None, max_length=200),
    evaluation_year: int | None = Query(None, ge=2000, le=2100),
) -> list[SatisfactionResultOut]:
    return [service.result_out(r) for r in service.list_results(session, department, evaluation_year)]


@router.get("/{ballot_id}", response_model=SatisfactionResultOut, responses=problem_responses(404))
def get_result(ballot_id: str, session: SessionDep) -> SatisfactionResultOut:
    return service.result_out(service.get_result_by_ballot(session, ballot_id))
