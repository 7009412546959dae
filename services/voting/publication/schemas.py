"""What voting publishes: meetings by date, the chamber board, and the results
of finished ballots. Counts only: never a member's choice, a receipt, a void
reason or a roster name."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from services.voting.ballots.schemas import OptionCount, QuestionOut


class PublicMeeting(BaseModel):
    id: str
    number: str
    held_on: dt.date
    place: str | None
    members_total: int


class PublicBallot(BaseModel):
    """A ballot as the hall sees it: turnout while open, the tally once closed."""

    id: str
    meeting_id: str
    kind: str
    title: str
    department: str | None
    evaluation_year: int | None
    vote_round: int
    status: Literal["open", "closed", "published"]
    members_total: int
    votes_cast: int = Field(description="turnout so far; final once closed")
    present_at_open: int | None
    present_at_close: int | None
    opened_at: dt.datetime | None
    closed_at: dt.datetime | None
    show_of_hands: bool
    results: list[OptionCount] | None = Field(None, description="only once closed")
    invalid: int | None = None
    quorum_at_close: bool | None = None
    pass_basis: str | None = None
    questions: list[QuestionOut] | None = None
    candidates: list[str] | None = None
    seats: int | None = None
    floor_rule: str | None = None
    winners: list[str] | None = Field(None, description="this round's winners, once closed")
    round_kind: Literal["main", "runoff", "supplementary"] | None = None
    parent_ballot_id: str | None = None
    follow_up_ballot_id: str | None = None
    plan_id: str | None = None
    batch: int | None = None


class MeetingBoard(BaseModel):
    """What the hall's screen shows (大屏): the roll and the ballot in hand, or the
    last one's result until the next opens."""

    meeting: PublicMeeting
    members_total: int = Field(description="应到: all members of the committee")
    present: int = Field(description="实到: members checked in now")
    quorum: bool = Field(description="more than half of all members present")
    ballot: PublicBallot | None = Field(None, description="the open ballot, else the last one closed; null before the first")
