from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from services.voting.ballots.schemas import OptionCount


class AttendeeRecord(BaseModel):
    name: str = Field(description="the 列席 person's name")
    affiliation: str | None = Field(None, description="whom they attended for; null if not given")


class QuestionRecord(BaseModel):
    text: str = Field(description="the question")
    results: list[OptionCount] = Field(description="votes per option (赞成, 反对, 弃权)")
    votes_cast: int = Field(description="ballots answering the question")
    passed: bool | None = Field(description="more than half of the base voted yes; null if not decided")
    outcome_label: str = Field(description="the outcome as printed, e.g. 通过 or 未通过")


class BallotRecord(BaseModel):
    """One ballot as the record prints it: counts only, never who voted what."""

    id: str = Field(description="the ballot's id (UUID)")
    title: str = Field(description="the ballot's title")
    kind: str = Field(description="satisfaction, resolution, competitive_selection or nomination_poll")
    kind_label: str = Field(description="the kind as printed, in Chinese (满意度测评, 差额票决, …)")
    round_kind: str | None = Field(None, description="selections: main, runoff, supplementary or list_runoff; null "
                                                     "otherwise")
    round_label: str | None = Field(None, description="the round as printed (平票候选人再次投票, 另行选举, …); null for a main "
                                                      "round")
    parent_ballot_id: str | None = Field(None, description="the round this one follows; null for a main round")
    status: str = Field(description="closed, published or void")
    secret: bool = Field(description="a secret ballot (always true)")
    show_of_hands: bool = Field(description="recorded by the clerk by show of hands (举手表决)")
    members_total: int = Field(description="应到 when the ballot was created")
    present_at_open: int | None = Field(description="members present at open")
    present_at_close: int | None = Field(description="members present at close")
    quorum_met: bool | None = Field(None, description="more than half of all members present at close (not for nomination polls)")
    quorum_line: str | None = Field(None, description="应到N人，实到M人，符合法定人数 (or 不符合)")
    results: list[OptionCount] = Field(description="votes per option, in the ballot's order")
    votes_cast: int = Field(description="ballots cast")
    did_not_vote: int | None = Field(None, description="未按: present at close but cast nothing (not for show of hands or polls)")
    invalid: int = Field(description="invalid ballots")
    passed: bool | None = Field(None, description="resolutions: every question passed; selection: every seat filled")
    base: int | None = Field(None, description="what 'more than half' was counted against, as a number")
    base_label: str | None = Field(None, description="the base as printed (全体组成人员的过半数, …)")
    grade: str | None = Field(None, description="satisfaction: the grade scoring gave under the plan's rule, once it arrived")
    grade_label: str | None = Field(None, description="the grade as printed (满意, 基本满意, 不满意); null until scoring "
                                                      "graded it")
    seats: int | None = Field(None, description="selections: the seats to fill")
    winners: list[str] | None = Field(None, description="selections: the departments chosen in this round")
    outcome_label: str = Field(description="the outcome as printed (通过, 当选…, 满意…)")
    questions: list[QuestionRecord] | None = Field(None, description="resolutions: each question's result")
    void_reason: str | None = Field(None, description="voided ballots (printed as 已作废): the reason given; null "
                                                      "otherwise")


class MeetingRecord(BaseModel):
    """会议表决结果: the meeting's printable voting record."""

    meeting_id: str = Field(description="the meeting's id (UUID)")
    number: str = Field(description="the sitting's number, e.g. 第四十四次会议")
    held_on: dt.date = Field(description="the date of the sitting, YYYY-MM-DD")
    place: str | None = Field(description="where it was held; null if not given")
    members_total: int = Field(description="应到: all members")
    present: int = Field(description="实到: checked in now")
    absent: list[str] = Field(description="names of the members not present")
    nonvoting_attendees: list[AttendeeRecord] = Field(description="列席")
    ballots: list[BallotRecord] = Field(description="in agenda order, then the order they were created; drafts and open ballots left out")
