"""What scoring publishes: the year plan, a batch's ranking once its selection
meeting is held, and graded satisfaction votes. No raw inputs, no who-asked."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from services.scoring.composite.schemas import RankedDepartmentOut
from services.scoring.plans.schemas import BatchOut


class PublicWeight(BaseModel):
    source: str
    source_label: str
    weight: float


class PublicYearPlan(BaseModel):
    id: str
    evaluation_year: int
    title: str
    batches: list[BatchOut]
    weights: list[PublicWeight]
    departments: list[str]


class PublicRanking(BaseModel):
    plan_id: str
    batch: int
    seats: int
    weights: list[PublicWeight]
    ranking: list[RankedDepartmentOut]
    slate: list[str]
    computed_at: dt.datetime
    selection_meeting_number: str
    selection_meeting_date: dt.date
    published_at: dt.datetime


class PublicSatisfactionResult(BaseModel):
    ballot_id: str
    department: str
    evaluation_year: int
    vote_round: int
    meeting_number: str
    meeting_date: dt.date
    counts: dict[str, int]
    invalid: int
    votes_cast: int
    present: int
    members_total: int
    grade: str
    grade_label: str
    denominator: int
    denominator_basis: str
