from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from services.voting.ballots.schemas import OptionCount


class AttendeeRecord(BaseModel):
    name: str
    affiliation: str | None = None


class QuestionRecord(BaseModel):
    text: str
    results: list[OptionCount]
    votes_cast: int
    passed: bool | None
    outcome_label: str


class BallotRecord(BaseModel):
    """One ballot as the record prints it: counts only, never who voted what."""

    id: str
    title: str
    kind: str
    kind_label: str
    round_kind: str | None = None
    round_label: str | None = None
    parent_ballot_id: str | None = None
    status: str
    secret: bool
    show_of_hands: bool = Field(description="recorded by the clerk by show of hands (举手表决)")
    members_total: int
    present_at_open: int | None
    present_at_close: int | None
    quorum_met: bool | None = Field(None, description="more than half of all members present at close (not for nomination polls)")
    quorum_line: str | None = Field(None, description="应到N人，实到M人，符合法定人数 (or 不符合)")
    results: list[OptionCount]
    votes_cast: int
    did_not_vote: int | None = Field(None, description="未按: present at close but cast nothing (not for show of hands or polls)")
    invalid: int
    passed: bool | None = Field(None, description="resolutions: every question passed; selection: every seat filled")
    base: int | None = Field(None, description="what 'more than half' was counted against, as a number")
    base_label: str | None = None
    grade: str | None = Field(None, description="satisfaction: the grade scoring gave under the plan's rule, once it arrived")
    grade_label: str | None = None
    seats: int | None = None
    winners: list[str] | None = None
    outcome_label: str
    questions: list[QuestionRecord] | None = None
    void_reason: str | None = None


class MeetingRecord(BaseModel):
    """会议表决结果: the meeting's printable voting record."""

    meeting_id: str
    number: str
    held_on: dt.date
    place: str | None
    members_total: int = Field(description="应到: all members")
    present: int = Field(description="实到: checked in now")
    absent: list[str] = Field(description="names of the members not present")
    nonvoting_attendees: list[AttendeeRecord] = Field(description="列席")
    ballots: list[BallotRecord] = Field(description="in agenda order, then the order they were created; drafts and open ballots left out")
