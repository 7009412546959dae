from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from services.scoring.domain.composite import DEFAULT_WEIGHTS, Normalisation, Source
from shared.text import DepartmentName, RequestModel, name, text

# A source's weight in percentage points; the plan's weights sum to 100.
Weight = Annotated[float, Field(ge=0, le=100)]
Department = DepartmentName
# What follows a second 不满意 (BRIEF §1.6); tracking applies it.
EscalationPolicy = Literal["written_self_examination", "admonition_talk", "interpellation_motion", "disciplinary_recommendation"]


class BatchIn(RequestModel):
    batch: int = Field(ge=1, le=12)
    selection_month: int = Field(ge=1, le=12, description="month of the meeting that chooses this batch")
    seats: int = Field(ge=1, le=100)
    review_month: int = Field(ge=1, le=12, description="month of the meeting that hears the reports")


def _default_batches() -> list[BatchIn]:
    return [
        BatchIn(batch=1, selection_month=2, seats=6, review_month=8),
        BatchIn(batch=2, selection_month=4, seats=6, review_month=10),
    ]


class YearPlanCreate(RequestModel):
    evaluation_year: int = Field(ge=2000, le=2100)
    title: text(200) = ""
    batches: list[BatchIn] = Field(default_factory=_default_batches, min_length=1, max_length=12)
    weights: dict[Source, Weight] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS), description="percentage points, must sum to 100")
    departments: list[Department] = Field(default_factory=list, max_length=500, description="candidate departments")
    normalisation: Normalisation = "min_max"
    surplus_min_percent: int = Field(20, ge=0, le=200)
    surplus_max_percent: int = Field(50, ge=0, le=200)
    satisfaction_denominator: Literal["all_members", "present", "valid_votes"] = "all_members"
    satisfaction_grades: Literal[2, 3] = 3
    escalation_policy: EscalationPolicy = "written_self_examination"


class YearPlanUpdate(RequestModel):
    """The fields to change; an omitted field keeps its value. The evaluation
    year is the plan's identity and cannot change. The merged plan is checked
    like a new one (weights sum to 100, departments, batches, surplus range)."""

    # Declared without `| None`: a field may be omitted, not set to null.
    title: name(200) = Field(None)
    batches: list[BatchIn] = Field(None, min_length=1, max_length=12)
    weights: dict[Source, Weight] = Field(None, description="percentage points, must sum to 100")
    departments: list[Department] = Field(None, max_length=500, description="candidate departments")
    normalisation: Normalisation = Field(None)
    surplus_min_percent: int = Field(None, ge=0, le=200)
    surplus_max_percent: int = Field(None, ge=0, le=200)
    satisfaction_denominator: Literal["all_members", "present", "valid_votes"] = Field(None)
    satisfaction_grades: Literal[2, 3] = Field(None)
    escalation_policy: EscalationPolicy = Field(None)


class BatchOut(BaseModel):
    batch: int
    selection_month: int
    seats: int
    review_month: int


class YearPlanOut(BaseModel):
    id: str
    evaluation_year: int
    title: str
    batches: list[BatchOut]
    weights: dict[str, float]
    departments: list[str]
    normalisation: str
    surplus_min_percent: int
    surplus_max_percent: int
    satisfaction_denominator: str
    satisfaction_grades: int
    escalation_policy: str
    created_at: dt.datetime
