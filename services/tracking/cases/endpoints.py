from __future__ import annotations

from fastapi import APIRouter, Query, Request

from services.tracking import access
from services.tracking.access import Reader, Staff
from services.tracking.cases import service
from services.tracking.cases.schemas import (
    CaseClose,
    CaseCreate,
    CaseDetail,
    CaseOut,
    CasePlanUpdate,
    InvestigationFindings,
    InvestigationOut,
    MilestoneComplete,
)
from services.tracking.sources import http_source
from services.tracking.writes import create_once
from shared.idempotency import IdempotencyDep
from shared.pagination import Cursor, Limit, Page
from shared.problems import problem_responses
from shared.service import SessionDep
from shared.text import DepartmentName, text

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/cases", response_model=Page[CaseOut], summary="Evaluation cases, by year and department")
def list_cases(
    session: SessionDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    department: DepartmentName | None = Query(None),
    evaluation_year: int | None = Query(None, ge=2000, le=2100),
) -> Page[CaseOut]:
    return service.list_cases(session, department=access.own_department(principal, department), year=evaluation_year,
                              limit=limit, cursor=cursor)


@router.post("/cases", response_model=CaseDetail, status_code=201, summary="Open a case for a department chosen at the selection",
             responses=problem_responses(409, 422))
def create_case(body: CaseCreate, request: Request, session: SessionDep, idem: IdempotencyDep, _: Staff):
    return create_once(session, idem, lambda: service.create_case(session, body, http_source(request)),
                       lambda case: service.case_detail(service.get_case(session, case.id)))


@router.get("/cases/{case_id}", response_model=CaseDetail, responses=problem_responses(404))
def get_case(case_id: str, session: SessionDep, principal: Reader) -> CaseDetail:
    access.for_case(session, principal, case_id)
    return access.shown(principal, service.case_detail(service.get_case(session, case_id)))


@router.patch("/cases/{case_id}", response_model=CaseDetail, summary="Complex case or review meeting date: moves pending milestones",
              responses=problem_responses(404, 409, 422))
def update_case_plan(case_id: str, body: CasePlanUpdate, request: Request, session: SessionDep, _: Staff) -> CaseDetail:
    service.update_case_plan(session, case_id, body, http_source(request))
    session.commit()
    return service.case_detail(service.get_case(session, case_id))


@router.post("/cases/{case_id}/milestones/{kind}/complete", response_model=CaseDetail, responses=problem_responses(404, 409, 422))
def complete_milestone(case_id: str, kind: str, body: MilestoneComplete, request: Request, session: SessionDep,
                       _: Staff) -> CaseDetail:
    service.complete_milestone(session, case_id, kind, body, http_source(request))
    session.commit()
    return service.case_detail(service.get_case(session, case_id))


@router.post("/cases/{case_id}/close", response_model=CaseDetail, summary="Close a case (满意/基本满意 and every commitment finished)",
             responses=problem_responses(404, 409, 422))
def close_case(case_id: str, body: CaseClose, request: Request, session: SessionDep, _: Staff) -> CaseDetail:
    service.close_case(session, case_id, body, http_source(request))
    session.commit()
    return service.case_detail(service.get_case(session, case_id))


@router.get("/investigations", response_model=Page[InvestigationOut], summary="Special investigations (专题调研)")
def list_investigations(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
                        case_id: text(36) | None = Query(None)) -> Page[InvestigationOut]:
    return access.shown(principal, service.list_investigations(
        session, case_id=case_id, department=access.own_department(principal), limit=limit, cursor=cursor))


@router.post("/investigations/{investigation_id}/findings", response_model=InvestigationOut,
             summary="Record the research group's findings", responses=problem_responses(404, 409, 422))
def record_findings(investigation_id: str, body: InvestigationFindings, request: Request, session: SessionDep,
                    _: Staff) -> InvestigationOut:
    investigation = service.record_findings(session, investigation_id, body, http_source(request))
    session.commit()
    return InvestigationOut.model_validate(investigation, from_attributes=True)
