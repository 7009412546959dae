from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RosterMemberIn(StrictModel):
    member_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)


class MeetingCreate(StrictModel):
    number: str = Field(min_length=1, max_length=100, examples=["第四十四次会议"])
    held_on: dt.date
    place: str | None = Field(None, max_length=200)
    members: list[RosterMemberIn] = Field(min_length=1, max_length=1000, description="all members of the committee")

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[RosterMemberIn]) -> list[RosterMemberIn]:
        ids = [m.member_id for m in members]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"member_id listed twice: {', '.join(duplicates)}")
        return members


# Agenda item kinds the clerk enters; re-report items (rereport_revote) come from tracking.
AgendaKind = Literal["resolution", "review_opinion", "report", "appointments", "competitive_selection", "satisfaction"]


class AgendaItemCreate(StrictModel):
    kind: AgendaKind
    title: str = Field(min_length=1, max_length=500, examples=["关于市住房和城乡建设局专项工作报告的满意度测评"])
    department: str | None = Field(None, min_length=1, max_length=200)
    evaluation_year: int | None = Field(None, ge=2000, le=2100)


class AttendanceChange(StrictModel):
    member_ids: list[str] = Field(min_length=1, max_length=1000)


class NonVotingAttendeeIn(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    affiliation: str | None = Field(None, max_length=200, examples=["市人民政府"])


class NonVotingAttendance(StrictModel):
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
