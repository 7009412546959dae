from __future__ import annotations

from fastapi import APIRouter, Request

from services.tracking import access
from services.tracking.access import Department, Reader, Staff
from services.tracking.audits import service
from services.tracking.audits.schemas import (
    AuditCaseClose,
    AuditCaseCreate,
    AuditCaseOut,
    AuditFindingCreate,
    AuditFindingOut,
    AuditFindingRectified,
    AuditReport,
)
from services.tracking.sources import http_source
from services.tracking.writes import create_once, refresh
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["audit findings"])


def _fresh(session, case_id: str) -> AuditCaseOut:
    refresh(session)
    return service.audit_case_out(service.get_audit_case(session, case_id))


@router.post("/audit-cases", response_model=AuditCaseOut, status_code=201, summary="Open an audit-findings rectification (审计查出问题整改)",
             responses=problem_responses(409, 422))
def create_audit_case(body: AuditCaseCreate, request: Request, session: SessionDep, idem: IdempotencyDep, _: Staff):
    """The committee's staff (`tracking:admin`) open the rectification of an audit work report's findings (审计查出问题整改) for
    an audited unit; the rectification report is due within six months. Takes an `Idempotency-Key`. Causes no event.
    Refusals: `idempotency-key-reused` (422)."""
    return create_once(session, idem, lambda: service.create_audit_case(session, body, http_source(request)),
                       lambda case: service.audit_case_out(service.get_audit_case(session, case.id)))


@router.get("/audit-cases", response_model=Page[AuditCaseOut])
def list_audit_cases(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[AuditCaseOut]:
    """Staff and audited units (`tracking:read`; a department's key, its own only) list the audit cases. Changes nothing.
    Refusals: `invalid-cursor` (422)."""
    return service.list_audit_cases(session, limit=limit, cursor=cursor, audited_unit=access.own_department(principal))


@router.get("/audit-cases/{case_id}", response_model=AuditCaseOut, responses=problem_responses(404))
def get_audit_case(case_id: str, session: SessionDep, principal: Reader) -> AuditCaseOut:
    """Staff and the audited unit (`tracking:read`; its own only) read an audit case with its findings, report and
    history. Changes nothing. Refusals: `not-found` (404), `other-department` (403)."""
    audit_case = service.get_audit_case(session, case_id)
    access.for_audit_case(principal, audit_case)
    return service.audit_case_out(audit_case)


@router.post("/audit-cases/{case_id}/findings", response_model=AuditFindingOut, status_code=201, responses=problem_responses(404, 409, 422))
def add_finding(case_id: str, body: AuditFindingCreate, request: Request, session: SessionDep, idem: IdempotencyDep, _: Staff):
    """The committee's staff (`tracking:admin`) add a finding of the audit with the measure required. Takes an
    `Idempotency-Key`. Causes no event. Refusals: `audit-case-closed` (409), `not-found` (404)."""
    return create_once(session, idem, lambda: service.add_finding(session, case_id, body, http_source(request)),
                       lambda finding: AuditFindingOut.model_validate(finding, from_attributes=True))


@router.post("/audit-findings/{finding_id}/rectify", response_model=AuditFindingOut,
             summary="Record a finding rectified; a department's key, on its own findings only",
             responses=problem_responses(404, 409, 422))
def rectify_finding(finding_id: str, body: AuditFindingRectified, request: Request, session: SessionDep,
                    principal: Department) -> AuditFindingOut:
    """The audited unit (`tracking:write`, its own findings only) records a finding rectified, with evidence. Causes no
    event. Refusals: `finding-rectified` (409), `audit-case-closed` (409), `date-before-audit` (422),
    `other-department` (403), `not-found` (404)."""
    access.for_audit_finding(session, principal, finding_id)
    finding = service.rectify_finding(session, finding_id, body, http_source(request))
    session.commit()
    return AuditFindingOut.model_validate(finding, from_attributes=True)


@router.post("/audit-cases/{case_id}/report", response_model=AuditCaseOut, responses=problem_responses(404, 409, 422))
def submit_report(case_id: str, body: AuditReport, request: Request, session: SessionDep, _: Staff) -> AuditCaseOut:
    """The committee's staff (`tracking:admin`) record the rectification report (整改情况报告). Causes no event. Refusals:
    `audit-report-submitted` (409), `audit-case-closed` (409), `date-before-audit` (422), `not-found` (404)."""
    service.submit_report(session, case_id, body, http_source(request))
    out = _fresh(session, case_id)
    session.commit()
    return out


@router.post("/audit-cases/{case_id}/close", response_model=AuditCaseOut, responses=problem_responses(404, 409, 422))
def close_audit_case(case_id: str, body: AuditCaseClose, request: Request, session: SessionDep, _: Staff) -> AuditCaseOut:
    """The committee's staff (`tracking:admin`) close the audit case once the report is in and every finding rectified.
    Causes no event. Refusals: `audit-close-needs-report` (409), `audit-close-open-findings` (409),
    `audit-case-closed` (409), `not-found` (404)."""
    service.close_audit_case(session, case_id, body, http_source(request))
    out = _fresh(session, case_id)
    session.commit()
    return out
