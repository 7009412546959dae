from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from shared.text import RequestModel, mapping, name


class SourceFiguresSubmit(RequestModel):
    """Raw figures of one source, e.g. working committees' opinions as scores."""

    figures: mapping(float, max_length=500, key_max_length=200, names=True) = Field(description="department → raw figure (votes, score or net complaints)")
    submitted_by: name(150) = Field(description="who submits (integrator or office)")


class SourceFiguresOut(BaseModel):
    plan_id: str
    batch: int
    source: str
    figures: dict[str, float]
    submitted_by: str
    updated_at: dt.datetime


class ContributionOut(BaseModel):
    source: str
    source_label: str
    raw: float
    normalised: float
    weight: float
    contribution: float


class RankedDepartmentOut(BaseModel):
    rank: int
    department: str
    score: float
    on_slate: bool
    explanation: list[ContributionOut]


class ComputationOut(BaseModel):
    id: str
    plan_id: str
    batch: int
    seats: int
    triggered_by: str
    inputs: dict
    ranking: list[RankedDepartmentOut]
    slate: list[str]
    computed_at: dt.datetime


class WeightSensitivityOut(BaseModel):
    source: str
    weight: float
    increase_until_change: float | None = Field(description="smallest rise in points (0.5 steps) that changes the slate; null if none")
    decrease_until_change: float | None
    slate_plus_5: list[str] | None
    slate_minus_5: list[str] | None


class SensitivityOut(BaseModel):
    plan_id: str
    batch: int
    computation_id: str
    slate: list[str]
    weights: list[WeightSensitivityOut]
