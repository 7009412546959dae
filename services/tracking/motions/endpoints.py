from __future__ import annotations

from fastapi import APIRouter, Query, Request

from services.tracking import access
from services.tracking.access import Department, Reader, Staff
from services.tracking.motions import service
from services.tracking.motions.schemas import MotionCreate, MotionExtension, MotionFeedback, MotionOut, MotionReply
from services.tracking.sources import http_source
from services.tracking.writes import create_once
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.ops.runtime import SessionDep
from shared.web.text import text

router = APIRouter(prefix="/v1", tags=["deputies' motions"])


@router.post("/motions", response_model=MotionOut, status_code=201, summary="Register a deputies' motion (议案) and its assignment",
             responses=problem_responses(409, 422))
def create_motion(body: MotionCreate, request: Request, session: SessionDep, idem: IdempotencyDep, _: Staff):
    """The committee's staff (`tracking:admin`) register a deputies' motion (议案) and the unit assigned to handle it; the
    reply is due three months after assignment (six for a complex one). Takes an `Idempotency-Key`. Causes no event.
    Refusals: `motion-exists` (409, the number is taken), `idempotency-key-reused` (422)."""
    return create_once(session, idem, lambda: service.create_motion(session, body, http_source(request)), service.motion_out)


@router.get("/motions", response_model=Page[MotionOut], summary="Motions, each flagged when its reply is overdue")
def list_motions(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
                 status: text(20) | None = Query(None)) -> Page[MotionOut]:
    """Staff and assigned units (`tracking:read`; a department's key, motions assigned to it only) list the motions, each
    flagged when its reply is overdue; filter by status. Changes nothing. Refusals: `invalid-cursor` (422)."""
    return service.list_motions(session, status=status, limit=limit, cursor=cursor,
                                assigned_unit=access.own_department(principal))


@router.get("/motions/{motion_id}", response_model=MotionOut, responses=problem_responses(404))
def get_motion(motion_id: str, session: SessionDep, principal: Reader) -> MotionOut:
    """Staff and the assigned unit (`tracking:read`) read a motion with its history. Changes nothing. Refusals:
    `not-found` (404), `other-department` (403)."""
    access.for_deputy_motion(session, principal, motion_id)
    return service.motion_out(service.get_motion(session, motion_id))


@router.post("/motions/{motion_id}/extension", response_model=MotionOut, summary="A later reply date, approved by the committee",
             responses=problem_responses(404, 409, 422))
def extend(motion_id: str, body: MotionExtension, request: Request, session: SessionDep, _: Staff) -> MotionOut:
    """The committee's staff (`tracking:admin`) record a later reply date approved by the committee, with who approved it
    and why. Causes no event. Refusals: `motion-not-awaiting-reply` (409), `extension-not-later` (422), `not-found`
    (404)."""
    motion = service.extend(session, motion_id, body, http_source(request))
    session.commit()
    return service.motion_out(motion)


@router.post("/motions/{motion_id}/reply", response_model=MotionOut,
             summary="The assigned unit's reply; a department's key, on motions assigned to it only",
             responses=problem_responses(404, 409, 422))
def reply(motion_id: str, body: MotionReply, request: Request, session: SessionDep, principal: Department) -> MotionOut:
    """The assigned unit (`tracking:write`, motions assigned to it only) records its reply and the result code (A: solved
    or mostly solved, B: planned, being solved, C: to be solved later, D: cannot be solved, explained). Causes no event. Refusals:
    `motion-not-awaiting-reply` (409), `reply-before-assignment` (422), `other-department` (403), `not-found` (404)."""
    access.for_deputy_motion(session, principal, motion_id)
    motion = service.reply(session, motion_id, body, http_source(request))
    session.commit()
    return service.motion_out(motion)


@router.post("/motions/{motion_id}/feedback", response_model=MotionOut, summary="The deputy's feedback; 不满意 sends it back",
             responses=problem_responses(404, 409, 422))
def feedback(motion_id: str, body: MotionFeedback, request: Request, session: SessionDep, _: Staff) -> MotionOut:
    """The committee's staff (`tracking:admin`) record the sponsoring deputy's feedback; 不满意 sends the motion back for
    another reply. Causes no event. Refusals: `motion-not-replied` (409), `feedback-before-reply` (422), `not-found`
    (404)."""
    motion = service.feedback(session, motion_id, body, http_source(request))
    session.commit()
    return service.motion_out(motion)
