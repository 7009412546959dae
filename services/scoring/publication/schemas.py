"""What scoring publishes: the year plan, a batch's ranking once its selection
meeting is held, and graded satisfaction votes. No raw inputs, no who-asked."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from services.scoring.composite.schemas import RankedDepartmentOut
from services.scoring.plans.schemas import BatchOut


class PublicWeight(BaseModel):
    source: str = Field(description="the source; public")
    source_label: str = Field(description="the source in Chinese; public")
    weight: float = Field(description="its weight, percentage points; public")


class PublicYearPlan(BaseModel):
    id: str = Field(description="the plan's id (UUID); public")
    evaluation_year: int = Field(description="the year evaluated; public")
    title: str = Field(description="the plan's title; public")
    batches: list[BatchOut] = Field(description="the batches with their months and seats; public")
    weights: list[PublicWeight] = Field(description="each source's weight; public")
    departments: list[str] = Field(description="the candidate departments; public")


class PublicRanking(BaseModel):
    plan_id: str = Field(description="the year plan; public")
    batch: int = Field(description="the plan's batch; public")
    seats: int = Field(description="the batch's seats; public")
    weights: list[PublicWeight] = Field(description="each source's weight; public")
    ranking: list[RankedDepartmentOut] = Field(description="the departments, best score first, with contributions; "
                                                           "public")
    slate: list[str] = Field(description="the candidates put to the selection vote; public")
    computed_at: dt.datetime = Field(description="when it was computed (ISO 8601, UTC); public")
    selection_meeting_number: str = Field(description="the meeting whose selection vote made it public; public")
    selection_meeting_date: dt.date = Field(description="that meeting's date, YYYY-MM-DD; public")
    published_at: dt.datetime = Field(description="when it became public: the selection vote's close (ISO 8601, "
                                                  "UTC); public")


class PublicSatisfactionResult(BaseModel):
    ballot_id: str = Field(description="voting's ballot; public")
    department: str = Field(description="the department voted on; public")
    evaluation_year: int = Field(description="the evaluation year; public")
    vote_round: int = Field(description="1, or 2 for the re-vote; public")
    meeting_number: str = Field(description="the sitting's number; public")
    meeting_date: dt.date = Field(description="the date of the sitting, YYYY-MM-DD; public")
    counts: dict[str, int] = Field(description="votes per option; public")
    invalid: int = Field(description="invalid ballots; public")
    votes_cast: int = Field(description="ballots cast; public")
    present: int = Field(description="members present at close; public")
    members_total: int = Field(description="all members (应到); public")
    grade: str = Field(description="satisfied, basically_satisfied or unsatisfied; public")
    grade_label: str = Field(description="满意, 基本满意 or 不满意; public")
    denominator: int = Field(description="the number the shares were taken of; public")
    denominator_basis: str = Field(description="the base of a satisfaction grade: all_members (全体组成人员), present "
                                               "(出席人数) or valid_votes (有效票); public")
