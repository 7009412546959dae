from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.tracking.domain.escalation import EscalationMeasure


class EscalationStepCreate(BaseModel):
    """A measure decided after a second 不满意, and who decided it."""

    model_config = ConfigDict(extra="forbid")

    measure: EscalationMeasure
    decided_by: str = Field(min_length=1, max_length=200)
    decided_at: AwareDatetime | None = Field(None, description="defaults to now")
    note: str | None = Field(None, max_length=5000)


class EscalationStepOut(BaseModel):
    id: str
    case_id: str
    unsatisfied_round: int
    measure: str
    measure_label: str
    decided_by: str
    decided_at: dt.datetime
    source: str
    note: str | None


class InterpellationMotionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=5000)
    sponsors: list[str] = Field(max_length=200, description="members sponsoring the motion; at least 5")
    filed_on: dt.date


class InterpellationAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answered_by: str = Field(min_length=1, max_length=200)
    answered_on: dt.date
    answer: str = Field(min_length=1, max_length=10000)


class InterpellationMotionOut(BaseModel):
    id: str
    case_id: str
    escalation_step_id: str | None
    subject: str
    sponsors: list[str]
    filed_on: dt.date
    answer: str | None
    answered_by: str | None
    answered_on: dt.date | None
