from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, status

from services.voting.agenda.service import add_agenda_item
from services.voting.meetings import service
from services.voting.meetings.access import Admin, Reader, Runner
from services.voting.meetings.schemas import (
    AgendaItemCreate,
    AgendaItemOut,
    AttendanceChange,
    MeetingCreate,
    MeetingDetail,
    MeetingOut,
    MemberTokenCreate,
    MemberTokenOut,
    NonVotingAttendance,
)
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.security.access import AuditContext, require_meeting, set_audit_context
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=MeetingDetail,
    summary="Create a meeting with its roster of all members",
    responses=problem_responses(409, 422),
)
def create_meeting(data: MeetingCreate, session: SessionDep, idem: IdempotencyDep, _: Admin):
    """The clerk's system (`voting:admin`) creates a sitting of the Standing Committee with its whole roster (应到), before
    the sitting. Re-reports tracking has scheduled for the next meeting (rereport.scheduled) are put on its agenda at
    once. Takes an `Idempotency-Key`. Causes no event. Refusals: `meeting-exists` (409, the number is taken),
    `inconsistent-request` (422, a member_id listed twice), `validation-error`, `idempotency-key-reused` (422),
    `idempotency-key-in-flight` (409)."""
    if (stored := idem.replay(session)) is not None:
        return stored
    meeting = service.create_meeting(session, data)
    body = service.meeting_out(meeting, detail=True)
    idem.record(session, 201, body)
    session.commit()
    return body


@router.get("", response_model=Page[MeetingOut], summary="Meetings by date")
def list_meetings(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[MeetingOut]:
    """Any credential with `voting:read` lists the meetings by date; a member token sees its own meeting only. Changes
    nothing. Refusals: `invalid-cursor` (422)."""
    return service.list_meetings(session, limit=limit, cursor=cursor, only=principal.meeting_id)


@router.get("/{meeting_id}", response_model=MeetingDetail, responses=problem_responses(404))
def get_meeting(meeting_id: str, session: SessionDep, principal: Reader) -> MeetingDetail:
    """The clerk, a member's device or an integrator (`voting:read`) reads a meeting with its roster and attendance,
    quorum, agenda and 列席. A member token reads its own meeting only. Changes nothing. Refusals: `not-found` (404),
    `other-meeting` (403)."""
    require_meeting(principal, meeting_id)
    return service.meeting_out(service.get_meeting(session, meeting_id), detail=True)


@router.get("/{meeting_id}/agenda", response_model=Page[AgendaItemOut], summary="The agenda in order",
            responses=problem_responses(404))
def get_agenda(meeting_id: str, session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[AgendaItemOut]:
    """Any credential with `voting:read` reads the agenda in order; a member token reads its own meeting's only. Changes
    nothing. Refusals: `not-found` (404), `other-meeting` (403), `invalid-cursor` (422)."""
    require_meeting(principal, meeting_id)
    return service.list_agenda(session, meeting_id, limit=limit, cursor=cursor)


@router.post(
    "/{meeting_id}/agenda", status_code=status.HTTP_201_CREATED, response_model=AgendaItemOut,
    summary="Add an item at the end of the agenda", responses=problem_responses(404, 422),
)
def add_item(meeting_id: str, data: AgendaItemCreate, session: SessionDep, idem: IdempotencyDep, _: Admin):
    """The clerk's system (`voting:admin`) adds an item at the end of the agenda (a report, a satisfaction vote, a
    competitive selection…). Ballots then name it by `agenda_item_id`. Takes an `Idempotency-Key`. Causes no event.
    Refusals: `not-found` (404), `validation-error`, `idempotency-key-reused` (422)."""
    if (stored := idem.replay(session)) is not None:
        return stored
    meeting = service.get_meeting(session, meeting_id)
    item = add_agenda_item(session, meeting, kind=data.kind, title=data.title, department=data.department,
                           evaluation_year=data.evaluation_year, vote_round=1 if data.kind == "satisfaction" else None)
    body = AgendaItemOut.model_validate(item, from_attributes=True)
    idem.record(session, 201, body)
    session.commit()
    return body


@router.post(
    "/{meeting_id}/member-tokens", response_model=MemberTokenOut,
    summary="Issue a member token (JWT) for a member's voting device, or a clerk's",
    description="The clerk's system (`voting:admin`) issues the token a member's seat device (the seat card's QR "
                "code) signs in with, before the sitting: bound to one member and this meeting, it reads this "
                "meeting and casts that member's votes only; `clerk: true` adds `voting:run` for running this "
                "meeting's votes. A voter of one of the meeting's nomination polls gets one the same way. Nothing "
                "is stored: a retry simply issues another token, equally valid, so no Idempotency-Key is taken (a "
                "replay would need the live credential kept in the database). The issue is audited, never the token. "
                "Causes no event. Refusals: `not-a-member` (403, not on the roster nor a poll's voters), "
                "`not-found` (404).",
    responses=problem_responses(403, 404, 422),
)
def issue_member_token(meeting_id: str, data: MemberTokenCreate, request: Request, session: SessionDep,
                       principal: Admin) -> MemberTokenOut:
    meeting = service.get_meeting(session, meeting_id)
    settings = request.app.state.settings
    out = service.issue_token(session, meeting, data, secret=settings.auth_token_secret,
                              ttl=dt.timedelta(hours=settings.member_token_ttl_hours))
    # Audited like a write (who got which token, until when), never the token itself.
    set_audit_context(session, AuditContext(
        actor=principal.name, action=f"POST {request.scope['route'].path}", subject=request.url.path,
        detail={"member_id": out.member_id, "meeting_id": out.meeting_id, "scopes": out.scopes,
                "expires_at": out.expires_at.isoformat(), "request_id": getattr(request.state, "request_id", None)},
    ), pending=True)
    session.commit()
    return out


@router.post(
    "/{meeting_id}/check-ins", response_model=MeetingDetail,
    summary="Record members as present", responses=problem_responses(403, 404, 422),
)
def check_in(meeting_id: str, data: AttendanceChange, session: SessionDep, principal: Runner) -> MeetingDetail:
    """The clerk (`voting:run`: an admin key, or the clerk's token for this meeting) records members as present as they
    sign in at the hall; the answer carries 实到 and `quorum`. Members must be present to vote, and a ballot opens only
    with a quorum. Causes no event. Refusals: `not-a-member` (403, naming ids not on the roster), `other-meeting`
    (403)."""
    require_meeting(principal, meeting_id)
    meeting = service.get_meeting(session, meeting_id)
    service.set_attendance(session, meeting, data.member_ids, present=True)
    session.commit()
    return service.meeting_out(meeting, detail=True)


@router.post(
    "/{meeting_id}/check-outs", response_model=MeetingDetail,
    summary="Record members as having left", responses=problem_responses(403, 404, 422),
)
def check_out(meeting_id: str, data: AttendanceChange, session: SessionDep, principal: Runner) -> MeetingDetail:
    """The clerk (`voting:run`) records members as having left; they can no longer vote, and quorum and 实到 drop. Causes
    no event. Refusals: `not-a-member` (403), `other-meeting` (403)."""
    require_meeting(principal, meeting_id)
    meeting = service.get_meeting(session, meeting_id)
    service.set_attendance(session, meeting, data.member_ids, present=False)
    session.commit()
    return service.meeting_out(meeting, detail=True)


@router.post(
    "/{meeting_id}/nonvoting-attendees", response_model=MeetingDetail,
    summary="Record people attending without a vote (列席)", responses=problem_responses(403, 404, 422),
)
def add_nonvoting_attendees(meeting_id: str, data: NonVotingAttendance, session: SessionDep, idem: IdempotencyDep,
                            principal: Runner):
    # Not a 201, but each call adds people: a retry with the same key adds no one twice.
    """The clerk (`voting:run`) records people attending without a vote (列席: the government's representatives, the
    department reporting); they are printed in the meeting record and never counted for quorum. Takes an
    `Idempotency-Key`, so a retry adds no one twice. Causes no event. Refusals: `not-found` (404), `other-meeting`
    (403), `idempotency-key-reused` (422)."""
    require_meeting(principal, meeting_id)
    if (stored := idem.replay(session)) is not None:
        return stored
    meeting = service.get_meeting(session, meeting_id)
    service.add_nonvoting_attendees(session, meeting, data.attendees)
    body = service.meeting_out(meeting, detail=True)
    idem.record(session, 200, body)
    session.commit()
    return body
