from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from services.tracking.motions.schemas import HistoryEntry


class AuditCaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audit_year: int = Field(ge=2000, le=2100)
    audited_unit: str = Field(min_length=1, max_length=200)
    report_title: str = Field(min_length=1, max_length=300, description="the audit work report the findings come from")
    received_on: dt.date


class AuditFindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    finding: str = Field(min_length=1, max_length=10000)
    measure: str = Field(min_length=1, max_length=10000)


class AuditFindingRectified(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rectified_on: dt.date
    evidence: str = Field(min_length=1, max_length=10000)


class AuditReport(BaseModel):
    """The rectification report (整改情况报告), due within 6 months."""

    model_config = ConfigDict(extra="forbid")

    submitted_on: dt.date
    summary: str = Field(min_length=1, max_length=20000)


class AuditCaseClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closed_by: str = Field(min_length=1, max_length=200)


class AuditFindingOut(BaseModel):
    id: str
    audit_case_id: str
    finding: str
    measure: str
    status: str
    rectified_on: dt.date | None
    evidence: str | None


class AuditCaseOut(BaseModel):
    id: str
    audit_year: int
    audited_unit: str
    report_title: str
    received_on: dt.date
    report_due_on: dt.date
    report_submitted_on: dt.date | None
    report_summary: str | None
    report_overdue: bool
    status: str
    closed_by: str | None
    findings: list[AuditFindingOut]
    history: list[HistoryEntry]
