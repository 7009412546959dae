from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SatisfactionChoice = Literal["satisfied", "basically_satisfied", "unsatisfied"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SatisfactionBallotCreate(StrictModel):
    """A satisfaction vote (满意度电子表决) on one department's special work report.

    Give `agenda_item_id` of a re-report item to take department, year and
    round from it; otherwise give them here.
    """

    kind: Literal["satisfaction"] = "satisfaction"
    agenda_item_id: str | None = None
    title: str | None = Field(None, max_length=500)
    department: str | None = Field(None, min_length=1, max_length=200)
    evaluation_year: int | None = Field(None, ge=2000, le=2100)
    vote_round: int | None = Field(None, ge=1, le=20)


class SatisfactionVoteCast(StrictModel):
    member_id: str = Field(min_length=1, max_length=100)
    choice: SatisfactionChoice


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
    status: Literal["draft", "open", "closed"]
    members_total: int
    votes_cast: int = Field(description="turnout so far; final once closed")
    present_at_open: int | None
    present_at_close: int | None
    opened_at: dt.datetime | None
    closed_at: dt.datetime | None
    results: list[OptionCount] | None = Field(None, description="only once closed")
    invalid: int | None = None
