from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, field_validator

from services.voting.ballots.schemas import UNIQUE_ITEMS, FloorRule, distinct
from shared.text import DepartmentName, Identifier, RequestModel, name


class SlateRef(RequestModel):
    plan_id: Identifier
    batch: int | None = Field(None, ge=1, le=12)


class SelectionBallotCreate(RequestModel):
    """A competitive selection (差额票决) of evaluation targets: give `candidates`, or
    `slate` to take them (and by default the seats) from scoring's latest slate."""

    agenda_item_id: Identifier | None = None
    title: name(500) | None = None
    evaluation_year: int | None = Field(None, ge=2000, le=2100)
    candidates: list[DepartmentName] | None = Field(None, min_length=2, max_length=100, json_schema_extra=UNIQUE_ITEMS)
    slate: SlateRef | None = None
    seats: int | None = Field(None, ge=1, le=99)
    floor_rule: FloorRule = Field("majority_of_members", description="default: more than half of all members; or plurality")
    surplus_min_percent: int | None = Field(None, ge=0, le=200, description="competitive ratio for a supplementary round (default: the slate's plan, else 20)")
    surplus_max_percent: int | None = Field(None, ge=0, le=200, description="competitive ratio for a supplementary round (default: the slate's plan, else 50)")

    @field_validator("candidates")
    @classmethod
    def _distinct(cls, candidates: list[str] | None) -> list[str] | None:
        return distinct(candidates, "a candidate")


class SlateOut(BaseModel):
    plan_id: str
    batch: int | None
    evaluation_year: int | None
    seats: int | None
    candidates: list[str]
    surplus_min_percent: int | None = None
    surplus_max_percent: int | None = None
    computation_id: str
    computed_at: dt.datetime
