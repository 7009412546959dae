from __future__ import annotations

import datetime as dt

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


class AttendanceChange(StrictModel):
    member_ids: list[str] = Field(min_length=1, max_length=1000)


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
