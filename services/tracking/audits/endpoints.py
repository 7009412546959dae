from __future__ import annotations

from fastapi import APIRouter, Request

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
from shared.pagination import Cursor, Limit, Page
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["audit findings"])


def _fresh(session, case_id: str) -> AuditCaseOut:
    session.expire_all()
    return service.audit_case_out(service.get_audit_case(session, case_id))


@router.post("/audit-cases", response_model=AuditCaseOut, status_code=201, summary="Open an audit-findings rectification (审计查出问题整改)",
             responses=problem_responses(422))
def create_audit_case(body: AuditCaseCreate, request: Request, session: SessionDep) -> AuditCaseOut:
    case = service.create_audit_case(session, body, http_source(request))
    session.commit()
    return _fresh(session, case.id)


@router.get("/audit-cases", response_model=Page[AuditCaseOut])
def list_audit_cases(session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[AuditCaseOut]:
    return service.list_audit_cases(session, limit=limit, cursor=cursor)


@router.get("/audit-cases/{case_id}", response_model=AuditCaseOut, responses=problem_responses(404))
def get_audit_case(case_id: str, session: SessionDep) -> AuditCaseOut:
    return service.audit_case_out(service.get_audit_case(session, case_id))


@router.post("/audit-cases/{case_id}/findings", response_model=AuditFindingOut, status_code=201, responses=problem_responses(404, 409, 422))
def add_finding(case_id: str, body: AuditFindingCreate, request: Request, session: SessionDep) -> AuditFindingOut:
    finding = service.add_finding(session, case_id, body, http_source(request))
    session.commit()
    return AuditFindingOut.model_validate(finding, from_attributes=True)


@router.post("/audit-findings/{finding_id}/rectify", response_model=AuditFindingOut, responses=problem_responses(404, 409, 422))
def rectify_finding(finding_id: str, body: AuditFindingRectified, request: Request, session: SessionDep) -> AuditFindingOut:
    finding = service.rectify_finding(session, finding_id, body, http_source(request))
    session.commit()
    return AuditFindingOut.model_validate(finding, from_attributes=True)


@router.post("/audit-cases/{case_id}/report", response_model=AuditCaseOut, responses=problem_responses(404, 409, 422))
def submit_report(case_id: str, body: AuditReport, request: Request, session: SessionDep) -> AuditCaseOut:
    service.submit_report(session, case_id, body, http_source(request))
    session.commit()
    return _fresh(session, case_id)


@router.post("/audit-cases/{case_id}/close", response_model=AuditCaseOut, responses=problem_responses(404, 409))
def close_audit_case(case_id: str, body: AuditCaseClose, request: Request, session: SessionDep) -> AuditCaseOut:
    service.close_audit_case(session, case_id, body, http_source(request))
    session.commit()
    return _fresh(session, case_id)
