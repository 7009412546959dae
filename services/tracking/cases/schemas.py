from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

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

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "department": "淄博市住房和城乡建设局",
            "evaluation_year": 2021,
            "selection_date": "2021-02-26",
            "batch": 1,
            "complex_case": False,
            "review_meeting_date": "2021-08-26",
        },
    ]})

    department: DepartmentName
    evaluation_year: int = Field(ge=2000, le=2100)
    selection_date: Date
    batch: int | None = Field(None, ge=1, le=12)
    complex_case: bool = False
    review_meeting_date: Date | None = None


class CasePlanUpdate(RequestModel):
    """Change what the milestones are computed from."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"complex_case": True}, {"review_meeting_date": "2021-08-27"}]})

    complex_case: bool = Field(None, description="six months for the rectification report instead of three; omit to keep")
    review_meeting_date: Date | None = Field(None, description="null withdraws the date; omit to keep")


class MilestoneComplete(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "completed_on": "2021-03-25",
            "document_url": "https://www.zbrd.gov.cn/pingyi/2021/zhujianju-zhenggai-fangan.pdf",
        },
    ]})

    completed_on: Date
    document_url: Url | None = None


class InvestigationFindings(RequestModel):
    """The research group's findings (专题调研报告)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"findings": "专题调研组赴张店区、淄川区12个小区实地察看，召开座谈会3次。物业服务投诉整改进度滞后，老旧小区加装电梯等承诺事项未按期完成，建议再次听取整改情况报告。"}]})

    findings: prose(20000)


class CaseClose(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"closed_by": "淄博市人大常委会办公室"}]})

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
