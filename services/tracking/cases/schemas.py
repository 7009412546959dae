from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from shared.text import Date, DepartmentName, RequestModel, Url, name, prose


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
    selection_date: dt.date | None
    batch: int | None
    complex_case: bool
    review_meeting_date: dt.date | None
    closed_at: dt.datetime | None
    closed_by: str | None


class CaseDetail(CaseOut):
    unsatisfied_rounds: list[UnsatisfiedRoundOut]
    investigations: list[InvestigationOut]
    rereports: list[RereportOut]
    timeline: list[TimelineEntryOut]
    milestones: list[MilestoneOut]


class CaseCreate(RequestModel):
    """Open a case by hand: the department chosen at a competitive selection."""

    department: DepartmentName
    evaluation_year: int = Field(ge=2000, le=2100)
    selection_date: Date
    batch: int | None = Field(None, ge=1, le=12)
    complex_case: bool = False
    review_meeting_date: Date | None = None


class CasePlanUpdate(RequestModel):
    """Change what the milestones are computed from."""

    complex_case: bool = Field(None, description="six months for the rectification report instead of three; omit to keep")
    review_meeting_date: Date | None = Field(None, description="null withdraws the date; omit to keep")


class MilestoneComplete(RequestModel):
    completed_on: Date
    document_url: Url | None = None


class InvestigationFindings(RequestModel):
    """The research group's findings (专题调研报告)."""

    findings: prose(20000)


class CaseClose(RequestModel):
    closed_by: name(200)


class MilestoneOut(BaseModel):
    kind: str
    label: str
    due_on: dt.date
    status: str
    completed_on: dt.date | None
    document_url: str | None
    overdue: bool




CaseDetail.model_rebuild()
