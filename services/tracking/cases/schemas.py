from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class UnsatisfiedRoundOut(BaseModel):
    round: int
    vote_round: int
    ballot_id: str
    meeting_id: str
    meeting_date: dt.date
    recorded_at: dt.datetime


class InvestigationOut(BaseModel):
    id: str
    case_id: str
    unsatisfied_round: int
    research_group: str
    status: str
    due_on: dt.date
    findings: str | None
    opened_at: dt.datetime


class RereportOut(BaseModel):
    id: str
    vote_round: int
    mode: str
    after_meeting_id: str
    after_meeting_date: dt.date
    investigation_id: str | None
    scheduled_at: dt.datetime


class TimelineEntryOut(BaseModel):
    at: dt.datetime
    kind: str
    summary: str
    source: str


class CaseOut(BaseModel):
    id: str
    department: str
    evaluation_year: int
    status: str
    stage: str
    stage_label: str
    latest_grade: str | None
    opened_at: dt.datetime
    updated_at: dt.datetime


class CaseDetail(CaseOut):
    unsatisfied_rounds: list[UnsatisfiedRoundOut]
    investigations: list[InvestigationOut]
    rereports: list[RereportOut]
    timeline: list[TimelineEntryOut]
