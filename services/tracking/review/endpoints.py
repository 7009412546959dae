from __future__ import annotations

from fastapi import APIRouter, Request

from services.tracking import access
from services.tracking.access import Reader, Staff
from services.tracking.review import service
from services.tracking.review.schemas import InquiryQuestionCreate, InquiryQuestionOut, WorkReportCreate, WorkReportOut
from services.tracking.sources import http_source
from services.tracking.writes import create_once
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["review meeting"])


@router.post("/cases/{case_id}/work-reports", response_model=WorkReportOut, status_code=201,
             summary="Record the special work report (专项工作报告)", responses=problem_responses(404, 409, 422))
def add_work_report(case_id: str, body: WorkReportCreate, request: Request, session: SessionDep, idem: IdempotencyDep,
                    _: Staff):
    """The committee's staff (`tracking:admin`) record the department's special work report (专项工作报告) heard at the review
    meeting, with its document. Public. Takes an `Idempotency-Key`. Causes no event. Refusals: `report-after-meeting`
    (422, submitted after the meeting), `date-before-selection` (422), `case-closed` (409), `not-found` (404)."""
    return create_once(session, idem, lambda: service.add_work_report(session, case_id, body, http_source(request)),
                       lambda report: WorkReportOut.model_validate(report, from_attributes=True))


@router.get("/cases/{case_id}/work-reports", response_model=Page[WorkReportOut], responses=problem_responses(404))
def list_work_reports(case_id: str, session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[WorkReportOut]:
    """Staff and the department (`tracking:read`; its own case only) list the case's work reports. Changes nothing.
    Refusals: `not-found` (404), `other-department` (403), `invalid-cursor` (422)."""
    access.for_case(session, principal, case_id)
    return service.list_work_reports(session, case_id, limit=limit, cursor=cursor)


@router.post("/cases/{case_id}/inquiry-questions", response_model=InquiryQuestionOut, status_code=201,
             summary="Record a special inquiry question (专题询问); a promised action becomes a commitment",
             responses=problem_responses(404, 409, 422))
def add_inquiry_question(case_id: str, body: InquiryQuestionCreate, request: Request, session: SessionDep,
                         idem: IdempotencyDep, _: Staff):
    """The committee's staff (`tracking:admin`) record one question of the special inquiry (专题询问) and its answer; a
    promised action with a deadline becomes a commitment of the case at once. Public (a citizen representative by role
    only). Takes an `Idempotency-Key`. Causes no event. Refusals: `inconsistent-request` (422, promised_action without
    promised_deadline or the reverse), `date-before-selection` (422), `case-closed` (409), `not-found` (404)."""
    return create_once(session, idem, lambda: service.add_inquiry_question(session, case_id, body, http_source(request)),
                       service.question_out)


@router.get("/cases/{case_id}/inquiry-questions", response_model=Page[InquiryQuestionOut], responses=problem_responses(404))
def list_inquiry_questions(case_id: str, session: SessionDep, principal: Reader, limit: Limit = 50,
                           cursor: Cursor = None) -> Page[InquiryQuestionOut]:
    """Staff and the department (`tracking:read`; its own case only) list the case's inquiry questions. Changes nothing.
    Refusals: `not-found` (404), `other-department` (403), `invalid-cursor` (422)."""
    access.for_case(session, principal, case_id)
    return service.list_inquiry_questions(session, case_id, limit=limit, cursor=cursor)
