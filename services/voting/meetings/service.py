"""Meetings, rosters and attendance."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from services.voting.agenda.service import attach_waiting_rereports
from services.voting.domain.tally import has_quorum
from services.voting.meetings.schemas import (
    AgendaItemOut,
    MeetingCreate,
    MeetingDetail,
    MeetingOut,
    NonVotingAttendeeIn,
    NonVotingAttendeeOut,
    RosterMemberOut,
)
from services.voting.models import Meeting, NonVotingAttendee, RosterMember
from shared.events import utcnow
from shared.problems import Problem, not_found


def get_meeting(session: Session, meeting_id: str) -> Meeting:
    meeting = session.get(Meeting, meeting_id, options=[
        selectinload(Meeting.members), selectinload(Meeting.agenda), selectinload(Meeting.nonvoting_attendees),
    ])
    if meeting is None:
        raise not_found("meeting", meeting_id)
    return meeting


def create_meeting(session: Session, data: MeetingCreate) -> Meeting:
    meeting = Meeting(number=data.number, held_on=data.held_on, place=data.place)
    meeting.members = [
        RosterMember(member_id=m.member_id, name=m.name, position=i) for i, m in enumerate(data.members)
    ]
    meeting.agenda = []
    meeting.nonvoting_attendees = []
    session.add(meeting)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "meeting-exists", "Meeting exists 会议已存在", f"a meeting numbered {data.number} already exists", number=data.number)
    attach_waiting_rereports(session, meeting)
    return meeting


def set_attendance(session: Session, meeting: Meeting, member_ids: list[str], *, present: bool) -> None:
    by_id = {m.member_id: m for m in meeting.members}
    unknown = [i for i in member_ids if i not in by_id]
    if unknown:
        raise Problem(
            403, "not-a-member", "Not a member 非本次会议组成人员",
            f"not on the roster of meeting {meeting.number}: {', '.join(unknown)}", member_ids=unknown,
        )
    now = utcnow()
    for member_id in member_ids:
        member = by_id[member_id]
        member.present = present
        if present:
            member.checked_in_at = now
        else:
            member.checked_out_at = now


def add_nonvoting_attendees(session: Session, meeting: Meeting, attendees: list[NonVotingAttendeeIn]) -> None:
    now = utcnow()
    for attendee in attendees:
        meeting.nonvoting_attendees.append(NonVotingAttendee(name=attendee.name, affiliation=attendee.affiliation, recorded_at=now))
    session.flush()


def present_count(meeting: Meeting) -> int:
    return sum(1 for m in meeting.members if m.present)


def meeting_out(meeting: Meeting, *, detail: bool = False) -> MeetingOut:
    present = present_count(meeting)
    total = len(meeting.members)
    data = dict(
        id=meeting.id,
        number=meeting.number,
        held_on=meeting.held_on,
        place=meeting.place,
        members_total=total,
        present=present,
        quorum=has_quorum(present, total),
        agenda=[AgendaItemOut.model_validate(a, from_attributes=True) for a in meeting.agenda],
    )
    if detail:
        return MeetingDetail(
            **data,
            members=[RosterMemberOut.model_validate(m, from_attributes=True) for m in meeting.members],
            nonvoting_attendees=[NonVotingAttendeeOut.model_validate(a, from_attributes=True) for a in meeting.nonvoting_attendees],
        )
    return MeetingOut(**data)


def list_meetings(session: Session) -> list[Meeting]:
    return list(
        session.scalars(
            select(Meeting).options(selectinload(Meeting.members), selectinload(Meeting.agenda)).order_by(Meeting.held_on, Meeting.number)
        )
    )
