from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from shared.text import Date, DepartmentName, Identifier, PersonName, RequestModel, name, text


MemberId = Identifier


class RosterMemberIn(RequestModel):
    member_id: MemberId
    name: PersonName


class MeetingCreate(RequestModel):
    number: name(100) = Field(examples=["第四十四次会议"])
    held_on: Date
    place: text(200) | None = None
    members: list[RosterMemberIn] = Field(min_length=1, max_length=1000, description="all members of the committee")

    @model_validator(mode="after")
    def _unique_members(self) -> MeetingCreate:
        # A rule across the roster's entries (JSON Schema cannot say it): inconsistent-request.
        ids = [m.member_id for m in self.members]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"members: member_id listed twice: {', '.join(duplicates)}")
        return self


# Agenda item kinds the clerk enters; re-report items (rereport_revote) come from tracking.
AgendaKind = Literal["resolution", "review_opinion", "report", "appointments", "competitive_selection", "satisfaction"]


class AgendaItemCreate(RequestModel):
    kind: AgendaKind
    title: name(500) = Field(examples=["关于市住房和城乡建设局专项工作报告的满意度测评"])
    department: DepartmentName | None = None
    evaluation_year: int | None = Field(None, ge=2000, le=2100)


class AttendanceChange(RequestModel):
    member_ids: list[MemberId] = Field(min_length=1, max_length=1000)


class MemberTokenCreate(RequestModel):
    """A token for one roster member of this meeting (or a voter of one of its
    nomination polls), for their voting device; `clerk` adds `voting:run` for
    running this meeting's votes (roster members only)."""

    member_id: MemberId
    clerk: bool = False


class MemberTokenOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; shown once, not stored")
    member_id: str
    meeting_id: str
    scopes: list[str]
    expires_at: dt.datetime


class NonVotingAttendeeIn(RequestModel):
    name: PersonName
    affiliation: name(200) | None = Field(None, examples=["市人民政府"])


class NonVotingAttendance(RequestModel):
    """People attending without a vote (列席): recorded apart from the roster."""

    attendees: list[NonVotingAttendeeIn] = Field(min_length=1, max_length=500)


class NonVotingAttendeeOut(BaseModel):
    id: str
    name: str
    affiliation: str | None
    recorded_at: dt.datetime


class RosterMemberOut(BaseModel):
    member_id: str
    name: str
    present: bool
    checked_in_at: dt.datetime | None
    checked_out_at: dt.datetime | None


class AgendaItemOut(BaseModel):
    id: str
    position: int
    kind: str
    title: str
    department: str | None
    evaluation_year: int | None
    vote_round: int | None
    mode: str | None


class MeetingOut(BaseModel):
    id: str
    number: str
    held_on: dt.date
    place: str | None
    members_total: int
    present: int
    quorum: bool = Field(description="more than half of all members present")
    agenda: list[AgendaItemOut]


class MeetingDetail(MeetingOut):
    members: list[RosterMemberOut]
    nonvoting_attendees: list[NonVotingAttendeeOut] = Field(description="列席人员: no vote, not counted for quorum")
