from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from services.tracking.motions.schemas import HistoryEntry
from shared.web.text import Date, DepartmentName, RequestModel, name, prose


class AuditCaseCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "audit_year": 2020,
            "audited_unit": "淄博市住房和城乡建设局",
            "report_title": "关于2020年度市级预算执行和其他财政收支的审计工作报告",
            "received_on": "2021-06-28",
        },
    ]})

    audit_year: int = Field(ge=2000, le=2100, description="the year audited, 2000-2100")
    audited_unit: DepartmentName = Field(description="the unit audited (1-200 characters)")
    report_title: name(300) = Field(description="the audit work report the findings come from")
    received_on: Date = Field(description="when the findings were received, YYYY-MM-DD: the report is due 6 months "
                                          "later")


class AuditFindingCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"finding": "住房保障专项资金1260万元滞留未拨付。", "measure": "2021年9月底前拨付到位，建立资金拨付台账。"}]})

    finding: prose(10000) = Field(description="the problem the audit found (1-10000 characters)")
    measure: prose(10000) = Field(description="the rectification required (1-10000 characters)")


class AuditFindingRectified(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"rectified_on": "2021-09-20", "evidence": "资金已全额拨付，拨付凭证及台账已报市审计局备案。"}]})

    rectified_on: Date = Field(description="when, YYYY-MM-DD, not before the audit was received")
    evidence: prose(10000) = Field(description="what shows it rectified (1-10000 characters)")


class AuditReport(RequestModel):
    """The rectification report (整改情况报告), due within 6 months."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"submitted_on": "2021-12-15", "summary": "审计查出的5个问题已整改4个，1个正在整改，涉及资金1260万元已全部拨付。"}]})

    submitted_on: Date = Field(description="when, YYYY-MM-DD, not before the audit was received")
    summary: prose(20000) = Field(description="the report's summary (1-20000 characters)")


class AuditCaseClose(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"closed_by": "淄博市人大常委会预算工作委员会"}]})

    closed_by: name(200) = Field(description="who closes it (1-200 characters)")


class AuditFindingOut(BaseModel):
    id: str = Field(description="the finding's id (UUID)")
    audit_case_id: str = Field(description="the audit case")
    finding: str = Field(description="the problem found")
    measure: str = Field(description="the rectification required")
    status: str = Field(description="open or rectified")
    rectified_on: dt.date | None = Field(description="when; null until rectified")
    evidence: str | None = Field(description="what shows it; null until rectified")


class AuditCaseOut(BaseModel):
    id: str = Field(description="the audit case's id (UUID)")
    audit_year: int = Field(description="the year audited")
    audited_unit: str = Field(description="the unit audited")
    report_title: str = Field(description="the audit work report")
    received_on: Date = Field(description="when the findings were received")
    report_due_on: dt.date = Field(description="when the rectification report is due (6 months)")
    report_submitted_on: dt.date | None = Field(description="when it was submitted; null until then")
    report_summary: str | None = Field(description="its summary; null until then")
    report_overdue: bool = Field(description="past due without a report")
    status: str = Field(description="open, reported or closed")
    closed_by: str | None = Field(description="who closed it; null while open")
    findings: list[AuditFindingOut] = Field(description="the findings")
    history: list[HistoryEntry] = Field(description="every change, oldest first")
