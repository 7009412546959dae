from __future__ import annotations

from fastapi import APIRouter, Request

from services.tracking import access
from services.tracking.access import Department, Reader, Staff
from services.tracking.escalation import service
from services.tracking.escalation.schemas import (
    EscalationStepCreate,
    EscalationStepOut,
    InterpellationAnswer,
    InterpellationMotionCreate,
    InterpellationMotionOut,
)
from services.tracking.sources import http_source
from services.tracking.writes import create_once
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["escalation"])


@router.post("/cases/{case_id}/escalation-steps", response_model=EscalationStepOut, status_code=201,
             summary="Record an escalation step after a second 不满意", responses=problem_responses(404, 409, 422))
def add_step(case_id: str, body: EscalationStepCreate, request: Request, session: SessionDep, idem: IdempotencyDep,
             _: Staff):
    """The committee's staff (`tracking:admin`) record the measure decided after a second 不满意 (书面检查, 约谈, 质询案, 建议有关机关依法处理),
    and who decided it; the plan's escalation policy is recorded automatically when the second 不满意 arrives. Public.
    Takes an `Idempotency-Key`. Causes no event. Refusals: `escalation-needs-second-unsatisfied` (409),
    `escalation-step-exists` (409), `case-closed` (409), `not-found` (404)."""
    return create_once(session, idem, lambda: service.add_step(session, case_id, body, http_source(request)), service.step_out)


@router.get("/cases/{case_id}/escalation-steps", response_model=Page[EscalationStepOut], responses=problem_responses(404))
def list_steps(case_id: str, session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[EscalationStepOut]:
    """Staff and the department (`tracking:read`; its own case only) list the case's escalation steps. Changes nothing.
    Refusals: `not-found` (404), `other-department` (403), `invalid-cursor` (422)."""
    access.for_case(session, principal, case_id)
    return service.list_steps(session, case_id, limit=limit, cursor=cursor)


@router.post("/cases/{case_id}/interpellation-motions", response_model=InterpellationMotionOut, status_code=201,
             summary="File an interpellation motion (质询案, 5+ sponsors)", responses=problem_responses(404, 409, 422))
def file_motion(case_id: str, body: InterpellationMotionCreate, request: Request, session: SessionDep, idem: IdempotencyDep,
                _: Staff):
    """The committee's staff (`tracking:admin`) file an interpellation motion (质询案) on the case's department, sponsored
    by at least five members. Public (the number of sponsors). Takes an `Idempotency-Key`. Causes no event. Refusals:
    `interpellation-too-few-sponsors` (422), `case-closed` (409), `not-found` (404)."""
    return create_once(session, idem, lambda: service.file_motion(session, case_id, body, http_source(request)),
                       lambda motion: InterpellationMotionOut.model_validate(motion, from_attributes=True))


@router.get("/cases/{case_id}/interpellation-motions", response_model=Page[InterpellationMotionOut],
            responses=problem_responses(404))
def list_motions(case_id: str, session: SessionDep, principal: Reader, limit: Limit = 50,
                 cursor: Cursor = None) -> Page[InterpellationMotionOut]:
    """Staff and the department (`tracking:read`; its own case only) list the case's interpellation motions. Changes
    nothing. Refusals: `not-found` (404), `other-department` (403), `invalid-cursor` (422)."""
    access.for_case(session, principal, case_id)
    return service.list_motions(session, case_id, limit=limit, cursor=cursor)


@router.post("/interpellation-motions/{motion_id}/answer", response_model=InterpellationMotionOut,
             summary="The department's answer to the interpellation motion on its case",
             responses=problem_responses(404, 409, 422))
def answer_motion(motion_id: str, body: InterpellationAnswer, request: Request, session: SessionDep,
                  principal: Department) -> InterpellationMotionOut:
    """The department (`tracking:write`, the motion on its own case) records its answer to the interpellation motion.
    Public. Causes no event. Refusals: `interpellation-answered` (409), `answer-before-filing` (422), `case-closed`
    (409), `other-department` (403), `not-found` (404)."""
    access.for_interpellation_motion(session, principal, motion_id)
    motion = service.answer_motion(session, motion_id, body, http_source(request))
    session.commit()
    return InterpellationMotionOut.model_validate(motion, from_attributes=True)
