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
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.ops.runtime import SessionDep
from shared.web.text import DepartmentName, text

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
    """The committee's staff, dashboards and integrators (`tracking:read`) list the evaluation cases by year and
    department; a department's key lists its own department's only. Changes nothing. Refusals: `other-department`
    (403, filtering on another department), `invalid-cursor` (422)."""
    return service.list_cases(session, department=access.own_department(principal, department), year=evaluation_year,
                              limit=limit, cursor=cursor)


@router.post("/cases", response_model=CaseDetail, status_code=201, summary="Open a case for a department chosen at the selection",
             responses=problem_responses(409, 422))
def create_case(body: CaseCreate, request: Request, session: SessionDep, idem: IdempotencyDep, _: Staff):
    """The committee's staff (`tracking:admin`) open a case by hand for a department chosen at the selection (cases are
    normally opened from voting's `ballot.closed` of the competitive selection). The milestones (rectification plan,
    report, review meeting) are computed from the selection date. Takes an `Idempotency-Key`. Causes no event.
    Refusals: `case-exists` (409, the department already has a case for the year), `idempotency-key-reused` (422)."""
    return create_once(session, idem, lambda: service.create_case(session, body, http_source(request)),
                       lambda case: service.case_detail(service.get_case(session, case.id)))


@router.get("/cases/{case_id}", response_model=CaseDetail, responses=problem_responses(404))
def get_case(case_id: str, session: SessionDep, principal: Reader) -> CaseDetail:
    """Staff and the department (`tracking:read`; a department's key for its own case) read a case: stage, milestones,
    不满意 rounds, investigations, re-reports and the whole timeline. Investigation findings read null without
    `tracking:read-internal`. Changes nothing. Refusals: `not-found` (404), `other-department` (403)."""
    access.for_case(session, principal, case_id)
    return access.shown(principal, service.case_detail(service.get_case(session, case_id)))


@router.patch("/cases/{case_id}", response_model=CaseDetail, summary="Complex case or review meeting date: moves pending milestones",
              responses=problem_responses(404, 409, 422))
def update_case_plan(case_id: str, body: CasePlanUpdate, request: Request, session: SessionDep, _: Staff) -> CaseDetail:
    """The committee's staff (`tracking:admin`) mark a case complex (six months for the rectification report instead of
    three) or set or withdraw the review meeting date; pending milestones move, each move on the timeline. Causes no
    event. Refusals: `case-closed` (409), `case-not-selected` (409, no selection date yet), `not-found` (404)."""
    service.update_case_plan(session, case_id, body, http_source(request))
    session.commit()
    return service.case_detail(service.get_case(session, case_id))


@router.post("/cases/{case_id}/milestones/{kind}/complete", response_model=CaseDetail, responses=problem_responses(404, 409, 422))
def complete_milestone(case_id: str, kind: str, body: MilestoneComplete, request: Request, session: SessionDep,
                       _: Staff) -> CaseDetail:
    """The committee's staff (`tracking:admin`) record a milestone as done (rectification_plan, rectification_report,
    review_meeting_report), with the document. Causes no event. Refusals: `milestone-done` (409), `case-closed` (409),
    `date-before-selection` (422), `not-found` (404, the case or the milestone kind)."""
    service.complete_milestone(session, case_id, kind, body, http_source(request))
    session.commit()
    return service.case_detail(service.get_case(session, case_id))


@router.post("/cases/{case_id}/close", response_model=CaseDetail, summary="Close a case (满意/基本满意 and every commitment finished)",
             responses=problem_responses(404, 409, 422))
def close_case(case_id: str, body: CaseClose, request: Request, session: SessionDep, _: Staff) -> CaseDetail:
    """The committee's staff (`tracking:admin`) close a case once its latest grade is 满意 or 基本满意 and every commitment is
    finished (结案). Causes no event. Refusals: `case-close-needs-passing-grade` (409), `case-close-open-commitments`
    (409), `case-closed` (409), `not-found` (404)."""
    service.close_case(session, case_id, body, http_source(request))
    session.commit()
    return service.case_detail(service.get_case(session, case_id))


@router.get("/investigations", response_model=Page[InvestigationOut], summary="Special investigations (专题调研)")
def list_investigations(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
                        case_id: text(36) | None = Query(None)) -> Page[InvestigationOut]:
    """Staff (`tracking:read`; a department's key, its own department's only) list the special investigations (专题调研)
    opened after a 不满意, for a case or all. Findings read null without `tracking:read-internal`. Changes nothing.
    Refusals: `invalid-cursor` (422)."""
    return access.shown(principal, service.list_investigations(
        session, case_id=case_id, department=access.own_department(principal), limit=limit, cursor=cursor))


@router.post("/investigations/{investigation_id}/findings", response_model=InvestigationOut,
             summary="Record the research group's findings", responses=problem_responses(404, 409, 422))
def record_findings(investigation_id: str, body: InvestigationFindings, request: Request, session: SessionDep,
                    _: Staff) -> InvestigationOut:
    """The committee's staff (`tracking:admin`) record the research group's findings (专题调研报告), completing the
    investigation; findings are internal (never published). Causes no event. Refusals: `investigation-completed`
    (409), `not-found` (404)."""
    investigation = service.record_findings(session, investigation_id, body, http_source(request))
    session.commit()
    return InvestigationOut.model_validate(investigation, from_attributes=True)
