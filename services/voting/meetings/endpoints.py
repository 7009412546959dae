from __future__ import annotations

from fastapi import APIRouter, status

from services.voting.meetings import service
from services.voting.agenda.service import add_agenda_item
from services.voting.meetings.schemas import AgendaItemCreate, AgendaItemOut, AttendanceChange, MeetingCreate, MeetingDetail, MeetingOut, NonVotingAttendance
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=MeetingDetail,
    summary="Create a meeting with its roster of all members",
    responses=problem_responses(409, 422),
)
def create_meeting(data: MeetingCreate, session: SessionDep) -> MeetingDetail:
    meeting = service.create_meeting(session, data)
    session.commit()
    return service.meeting_out(meeting, detail=True)


@router.get("", response_model=list[MeetingOut], summary="Meetings by date")
def list_meetings(session: SessionDep) -> list[MeetingOut]:
    return [service.meeting_out(m) for m in service.list_meetings(session)]


@router.get("/{meeting_id}", response_model=MeetingDetail, responses=problem_responses(404))
def get_meeting(meeting_id: str, session: SessionDep) -> MeetingDetail:
    return service.meeting_out(service.get_meeting(session, meeting_id), detail=True)


@router.get("/{meeting_id}/agenda", response_model=list[AgendaItemOut], responses=problem_responses(404))
def get_agenda(meeting_id: str, session: SessionDep) -> list[AgendaItemOut]:
    meeting = service.get_meeting(session, meeting_id)
    return [AgendaItemOut.model_validate(a, from_attributes=True) for a in meeting.agenda]


@router.post(
    "/{meeting_id}/agenda", status_code=status.HTTP_201_CREATED, response_model=AgendaItemOut,
    summary="Add an item at the end of the agenda", responses=problem_responses(404, 422),
)
def add_item(meeting_id: str, data: AgendaItemCreate, session: SessionDep) -> AgendaItemOut:
    meeting = service.get_meeting(session, meeting_id)
    item = add_agenda_item(session, meeting, kind=data.kind, title=data.title, department=data.department,
                           evaluation_year=data.evaluation_year, vote_round=1 if data.kind == "satisfaction" else None)
    session.commit()
    return AgendaItemOut.model_validate(item, from_attributes=True)


@router.post(
    "/{meeting_id}/check-ins", response_model=MeetingDetail,
    summary="Record members as present", responses=problem_responses(403, 404, 422),
)
def check_in(meeting_id: str, data: AttendanceChange, session: SessionDep) -> MeetingDetail:
    meeting = service.get_meeting(session, meeting_id)
    service.set_attendance(session, meeting, data.member_ids, present=True)
    session.commit()
    return service.meeting_out(meeting, detail=True)


@router.post(
    "/{meeting_id}/check-outs", response_model=MeetingDetail,
    summary="Record members as having left", responses=problem_responses(403, 404, 422),
)
def check_out(meeting_id: str, data: AttendanceChange, session: SessionDep) -> MeetingDetail:
    meeting = service.get_meeting(session, meeting_id)
    service.set_attendance(session, meeting, data.member_ids, present=False)
    session.commit()
    return service.meeting_out(meeting, detail=True)


@router.post(
    "/{meeting_id}/nonvoting-attendees", response_model=MeetingDetail,
    summary="Record people attending without a vote (列席)", responses=problem_responses(404, 422),
)
def add_nonvoting_attendees(meeting_id: str, data: NonVotingAttendance, session: SessionDep) -> MeetingDetail:
    meeting = service.get_meeting(session, meeting_id)
    service.add_nonvoting_attendees(session, meeting, data.attendees)
    session.commit()
    return service.meeting_out(meeting, detail=True)
