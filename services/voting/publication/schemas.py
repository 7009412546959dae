"""What voting publishes: meetings by date, the chamber board, and the results
of finished ballots. Counts only: never a member's choice, a receipt, a void
reason or a roster name."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from services.voting.ballots.schemas import OptionCount, QuestionOut


class PublicMeeting(BaseModel):
    id: str = Field(description="the meeting's id (UUID); public")
    number: str = Field(description="the sitting's number, e.g. 第四十四次会议; public")
    held_on: dt.date = Field(description="the date of the sitting, YYYY-MM-DD; public")
    place: str | None = Field(description="where it is held; null if not given; public")
    members_total: int = Field(description="应到: members on the roster; public")


class PublicBallot(BaseModel):
    """A ballot as the hall sees it: turnout while open, the tally once closed."""

    id: str = Field(description="the ballot's id (UUID); public")
    meeting_id: str = Field(description="the meeting it was voted in; public")
    kind: str = Field(description="satisfaction, resolution or competitive_selection; public")
    title: str = Field(description="the ballot's title; public")
    department: str | None = Field(description="satisfaction ballots: the department voted on; public")
    evaluation_year: int | None = Field(description="the evaluation year; null for resolutions; public")
    vote_round: int = Field(description="1, or 2 for a re-vote after 不满意; public")
    status: Literal["open", "closed", "published"] = Field(description="open (turnout only), closed or published "
                                                                       "(with the tally); public")
    members_total: int = Field(description="应到 when the ballot was created; public")
    votes_cast: int = Field(description="turnout so far; final once closed")
    present_at_open: int | None = Field(description="members present at open; public")
    present_at_close: int | None = Field(description="members present at close; null while open; public")
    opened_at: dt.datetime | None = Field(description="when it opened (ISO 8601, UTC); public")
    closed_at: dt.datetime | None = Field(description="when it closed (ISO 8601, UTC); null while open; public")
    show_of_hands: bool = Field(description="the result was taken by show of hands (举手表决); public")
    results: list[OptionCount] | None = Field(None, description="only once closed")
    invalid: int | None = Field(None, description="invalid ballots, once closed; public")
    quorum_at_close: bool | None = Field(None, description="more than half of all members present at close, once "
                                                           "closed; public")
    pass_basis: str | None = Field(None, description="resolutions: members_total, present or votes_cast; public")
    questions: list[QuestionOut] | None = Field(None, description="resolutions: the questions with their results; "
                                                                  "public")
    candidates: list[str] | None = Field(None, description="selections: the candidate departments; public")
    seats: int | None = Field(None, description="selections: the seats to fill; public")
    floor_rule: str | None = Field(None, description="selections: majority_of_members or plurality; public")
    winners: list[str] | None = Field(None, description="this round's winners, once closed")
    round_kind: Literal["main", "runoff", "supplementary"] | None = Field(None, description="selections: main, runoff or "
                                                                                            "supplementary (另行选举); public")
    parent_ballot_id: str | None = Field(None, description="the round this runoff or supplementary round follows; "
                                                           "public")
    follow_up_ballot_id: str | None = Field(None, description="the round this one opened, if any; public")
    plan_id: str | None = Field(None, description="selections: the year plan; public")
    batch: int | None = Field(None, description="selections: the plan's batch; public")


class MeetingBoard(BaseModel):
    """What the hall's screen shows (大屏): the roll and the ballot in hand, or the
    last one's result until the next opens."""

    meeting: PublicMeeting = Field(description="the meeting on the board; public")
    members_total: int = Field(description="应到: all members of the committee")
    present: int = Field(description="实到: members checked in now")
    quorum: bool = Field(description="more than half of all members present")
    ballot: PublicBallot | None = Field(None, description="the open ballot, else the last one closed; null before the first")
