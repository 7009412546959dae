from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from services.tracking.domain.escalation import EscalationMeasure
from shared.text import Date, DateTime, PersonName, RequestModel, name, prose


class EscalationStepCreate(RequestModel):
    """A measure decided after a second 不满意, and who decided it."""

    measure: EscalationMeasure
    decided_by: name(200)
    decided_at: DateTime | None = Field(None, description="defaults to now")
    note: prose(5000, min_length=0) | None = None


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


class InterpellationMotionCreate(RequestModel):
    subject: prose(5000)
    sponsors: list[PersonName] = Field(max_length=200, description="members sponsoring the motion; at least 5")
    filed_on: Date


class InterpellationAnswer(RequestModel):
    answered_by: name(200)
    answered_on: Date
    answer: prose(10000)


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
