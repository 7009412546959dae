from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from shared.text import DepartmentName, Identifier, RequestModel, mapping, name, prose


from shared.events import RoundKind

SatisfactionChoice = Literal["satisfied", "basically_satisfied", "unsatisfied"]
YesNoAbstain = Literal["yes", "no", "abstain"]
PassBasis = Literal["members_total", "present", "votes_cast"]
FloorRule = Literal["majority_of_members", "plurality"]
BallotStatus = Literal["draft", "open", "closed", "published", "void"]


Hands = Annotated[int, Field(ge=0, le=10_000)]
UNIQUE_ITEMS = {"uniqueItems": True}


def distinct(values: list[str] | None, what: str) -> list[str] | None:
    """The schema says uniqueItems; pydantic does not check it by itself."""
    if values is not None and len(set(values)) != len(values):
        raise ValueError(f"{what} is listed twice")
    return values


class SatisfactionBallotCreate(RequestModel):
    """A satisfaction vote (满意度电子表决) on one department's special work report.

    Give `agenda_item_id` of a re-report item to take department, year and
    round from it; otherwise give them here.
    """

    kind: Literal["satisfaction"] = "satisfaction"
    agenda_item_id: Identifier | None = None
    title: name(500) | None = None
    department: DepartmentName | None = None
    evaluation_year: int | None = Field(None, ge=2000, le=2100)
    vote_round: int | None = Field(None, ge=1, le=20)


class QuestionIn(RequestModel):
    text: name(500) = Field(examples=["任命张三为市发展和改革委员会主任"])


class ResolutionBallotCreate(RequestModel):
    """A yes/no/abstain (赞成/反对/弃权) ballot with one question, or several voted
    together (appointments person by person on one ballot)."""

    agenda_item_id: Identifier | None = None
    title: name(500)
    questions: list[QuestionIn] = Field(min_length=1, max_length=100)
    pass_basis: PassBasis = Field(
        "members_total", description="more than half of: all members (default), members present at close, or votes cast on the question",
    )


class VoteCast(RequestModel):
    """`choice` on a satisfaction ballot; `answers` (question id -> yes/no/abstain) on a
    yes/no/abstain ballot, where a question left out is not counted; `marks` on a
    competitive selection, where marking more than the seats makes the ballot invalid."""

    member_id: Identifier = Field(description="the member casting: the token's own")
    choice: SatisfactionChoice | None = None
    answers: mapping(YesNoAbstain, max_length=100) | None = None
    marks: list[DepartmentName] | None = Field(None, max_length=200, description="competitive selection: the candidates marked",
                                    json_schema_extra=UNIQUE_ITEMS)

    @field_validator("marks")
    @classmethod
    def _distinct_marks(cls, marks: list[str] | None) -> list[str] | None:
        return distinct(marks, "a candidate")


# The name the first issue used for the body of a satisfaction vote.
SatisfactionVoteCast = VoteCast


class BallotVoid(RequestModel):
    reason: prose(2000) = Field(examples=["表决器故障"])


class ShowOfHandsRecord(RequestModel):
    """Counts the clerk took by show of hands when the devices failed (counts only).
    `counts` (option code -> votes) for a satisfaction ballot; `questions`
    (question id -> option code -> votes) for a yes/no/abstain ballot."""

    counts: mapping(Hands, max_length=10) | None = None
    invalid: Hands = 0
    questions: mapping(mapping(Hands, max_length=10), max_length=100) | None = None


class VoteReceipt(BaseModel):
    ballot_id: str
    receipt_code: str = Field(description="keep it to confirm later that the vote was counted")


class ReceiptCheck(BaseModel):
    ballot_id: str
    counted: bool


class OptionCount(BaseModel):
    code: str
    label: str
    votes: int


class QuestionOut(BaseModel):
    id: str
    position: int
    text: str
    results: list[OptionCount] | None = Field(None, description="only once closed")
    votes_cast: int | None = None
    passed: bool | None = None


class BallotOut(BaseModel):
    id: str
    meeting_id: str
    agenda_item_id: str | None
    kind: str
    title: str
    department: str | None
    evaluation_year: int | None
    vote_round: int
    secret: bool
    status: BallotStatus
    members_total: int
    votes_cast: int = Field(description="turnout so far; final once closed")
    present_at_open: int | None
    present_at_close: int | None
    opened_at: dt.datetime | None
    closed_at: dt.datetime | None
    results: list[OptionCount] | None = Field(None, description="only once closed")
    invalid: int | None = None
    quorum_at_close: bool | None = Field(None, description="more than half of all members were present at close")
    show_of_hands: bool = Field(False, description="result recorded by the clerk by show of hands (举手表决)")
    published_at: dt.datetime | None = None
    voided_at: dt.datetime | None = None
    void_reason: str | None = None
    rerun_of_ballot_id: str | None = None
    rerun_ballot_id: str | None = Field(None, description="the ballot re-running this voided one")
    pass_basis: PassBasis | None = None
    questions: list[QuestionOut] | None = None
    candidates: list[str] | None = None
    seats: int | None = None
    floor_rule: FloorRule | None = None
    winners: list[str] | None = Field(None, description="this round's winners, once closed")
    round_kind: RoundKind | None = Field(None, description="main, runoff (tied at the cut-off), supplementary (另行选举, unfilled seats), "
                                         "list_runoff (tied at the end of the supplementary list: votes for places on it)")
    parent_ballot_id: str | None = Field(None, description="the round this runoff or supplementary round follows")
    surplus_min_percent: int | None = Field(None, description="competitive ratio sizing a supplementary round")
    surplus_max_percent: int | None = None
    supplementary_placed: list[str] | None = Field(None, description="list runoff: candidates already on the supplementary list")
    supplementary_seats: int | None = Field(None, description="list runoff: seats the supplementary round will fill")
    follow_up_ballot_id: str | None = Field(None, description="the runoff or supplementary round this round opened")
    plan_id: str | None = None
    batch: int | None = None
    constituency: str | None = Field(None, description="nomination polls: the constituency polled")
    max_choices: int | None = Field(None, description="nomination polls: departments a voter may choose")
