from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from services.tracking.motions.schemas import HistoryEntry
from shared.text import Date, DepartmentName, RequestModel, name, prose


class AuditCaseCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "audit_year": 2020,
            "audited_unit": "淄博市住房和城乡建设局",
            "report_title": "关于2020年度市级预算执行和其他财政收支的审计工作报告",
            "received_on": "2021-06-28",
        },
    ]})

    audit_year: int = Field(ge=2000, le=2100)
    audited_unit: DepartmentName
    report_title: name(300) = Field(description="the audit work report the findings come from")
    received_on: Date


class AuditFindingCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"finding": "住房保障专项资金1260万元滞留未拨付。", "measure": "2021年9月底前拨付到位，建立资金拨付台账。"}]})

    finding: prose(10000)
    measure: prose(10000)


class AuditFindingRectified(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"rectified_on": "2021-09-20", "evidence": "资金已全额拨付，拨付凭证及台账已报市审计局备案。"}]})

    rectified_on: Date
    evidence: prose(10000)


class AuditReport(RequestModel):
    """The rectification report (整改情况报告), due within 6 months."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"submitted_on": "2021-12-15", "summary": "审计查出的5个问题已整改4个，1个正在整改，涉及资金1260万元已全部拨付。"}]})

    submitted_on: Date
    summary: prose(20000)


class AuditCaseClose(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"closed_by": "淄博市人大常委会预算工作委员会"}]})

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
