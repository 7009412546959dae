from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from services.tracking.motions.schemas import HistoryEntry
from shared.text import Date, DepartmentName, RequestModel, name, prose


class AuditCaseCreate(RequestModel):
    audit_year: int = Field(ge=2000, le=2100)
    audited_unit: DepartmentName
    report_title: name(300) = Field(description="the audit work report the findings come from")
    received_on: Date


class AuditFindingCreate(RequestModel):
    finding: prose(10000)
    measure: prose(10000)


class AuditFindingRectified(RequestModel):
    rectified_on: Date
    evidence: prose(10000)


class AuditReport(RequestModel):
    """The rectification report (整改情况报告), due within 6 months."""

    submitted_on: Date
    summary: prose(20000)


class AuditCaseClose(RequestModel):
    closed_by: name(200)


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
    received_on: Date
    report_due_on: dt.date
    report_submitted_on: dt.date | None
    report_summary: str | None
    report_overdue: bool
    status: str
    closed_by: str | None
    findings: list[AuditFindingOut]
    history: list[HistoryEntry]
