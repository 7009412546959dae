from __future__ import annotations

from fastapi import APIRouter, Query

from services.tracking.cases import service
from services.tracking.cases.schemas import CaseDetail, CaseOut, InvestigationOut
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/cases", response_model=list[CaseOut], summary="Evaluation cases")
def list_cases(
    session: SessionDep,
    department: str | None = Query(None, max_length=200),
    evaluation_year: int | None = Query(None, ge=2000, le=2100),
) -> list[CaseOut]:
    return [service.case_out(c) for c in service.list_cases(session, department, evaluation_year)]


@router.get("/cases/{case_id}", response_model=CaseDetail, responses=problem_responses(404))
def get_case(case_id: str, session: SessionDep) -> CaseDetail:
    return service.case_detail(service.get_case(session, case_id))


@router.get("/investigations", response_model=list[InvestigationOut], summary="Special investigations (专题调研)")
def list_investigations(session: SessionDep, case_id: str | None = Query(None, max_length=36)) -> list[InvestigationOut]:
    return [InvestigationOut.model_validate(i, from_attributes=True) for i in service.list_investigations(session, case_id)]
