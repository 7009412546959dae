from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from shared.web.text import Date, DepartmentName, RequestModel, Url, name, prose


class UnsatisfiedRoundOut(BaseModel):
    round: int = Field(description="1 for the first 不满意, 2 for the second")
    vote_round: int = Field(description="the vote's round (1, or 2 for the re-vote)")
    ballot_id: str = Field(description="voting's ballot")
    meeting_id: str = Field(description="voting's meeting")
    meeting_date: dt.date = Field(description="the date of the sitting, YYYY-MM-DD")
    recorded_at: dt.datetime = Field(description="when vote.marked_unsatisfied was handled (ISO 8601, UTC)")


class InvestigationOut(BaseModel):
    id: str = Field(description="the investigation's id (UUID)")
    case_id: str = Field(description="the case")
    unsatisfied_round: int = Field(description="the 不满意 round that opened it")
    research_group: str = Field(description="the research group (专题调研组) doing it")
    status: str = Field(description="open or completed")
    due_on: dt.date = Field(description="when the findings are due, YYYY-MM-DD")
    findings: str | None = Field(description="the findings; internal: null without tracking:read-internal")
    opened_at: dt.datetime = Field(description="when it was opened (ISO 8601, UTC)")


class RereportOut(BaseModel):
    id: str = Field(description="the re-report's id (UUID)")
    vote_round: int = Field(description="the round of the re-vote (2)")
    mode: str = Field(description="inquiry_or_interpellation, inquiry (询问) or interpellation (质询), at the re-report")
    after_meeting_id: str = Field(description="the meeting of the 不满意 vote; the re-report goes to the next one")
    after_meeting_date: dt.date = Field(description="that meeting's date, YYYY-MM-DD")
    investigation_id: str | None = Field(description="the investigation before it; null if none")
    scheduled_at: dt.datetime = Field(description="when rereport.scheduled was published (ISO 8601, UTC)")


class TimelineEntryOut(BaseModel):
    at: dt.datetime = Field(description="when (ISO 8601, UTC)")
    kind: str = Field(description="what changed, e.g. milestone_done, unsatisfied, rereport_scheduled")
    summary: str = Field(description="the change in Chinese, as the timeline shows it")
    source: str = Field(description="where the change came from: `http:<method> <path> request_id=<id>` for a "
                                    "request, `event:<event_id>` for a handled event")


class CaseOut(BaseModel):
    id: str = Field(description="the case's id (UUID)")
    department: str = Field(description="the department evaluated; public")
    evaluation_year: int = Field(description="the evaluation year; public")
    status: str = Field(description="open or closed; public")
    stage: str = Field(description="rectification (整改中), investigation (专题调研中), awaiting_rereport (待再次报告和表决), "
                                   "escalated (不满意后问责处理中) or closed (已结案); public")
    stage_label: str = Field(description="the stage in Chinese; public")
    latest_grade: str | None = Field(description="the latest satisfaction grade scoring gave (satisfied, "
                                                 "basically_satisfied, unsatisfied); null before the first vote; "
                                                 "public")
    opened_at: dt.datetime = Field(description="when the case was opened (ISO 8601, UTC)")
    updated_at: dt.datetime = Field(description="the last change (ISO 8601, UTC)")
    selection_date: dt.date | None = Field(description="the date of the selection meeting, YYYY-MM-DD; null until "
                                                       "selected")
    batch: int | None = Field(description="the plan's batch; null if none")
    complex_case: bool = Field(description="six months for the rectification report instead of three")
    review_meeting_date: dt.date | None = Field(description="the meeting that hears the report, YYYY-MM-DD; null "
                                                            "until set")
    closed_at: dt.datetime | None = Field(description="when it was closed (ISO 8601, UTC); null while open")
    closed_by: str | None = Field(description="who closed it; null while open")


class CaseDetail(CaseOut):
    unsatisfied_rounds: list[UnsatisfiedRoundOut] = Field(description="each 不满意 received")
    investigations: list[InvestigationOut] = Field(description="the special investigations")
    rereports: list[RereportOut] = Field(description="the re-reports scheduled")
    timeline: list[TimelineEntryOut] = Field(description="every change, oldest first")
    milestones: list[MilestoneOut] = Field(description="the case's milestones")


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

    department: DepartmentName = Field(description="the department chosen (1-200 characters)")
    evaluation_year: int = Field(ge=2000, le=2100, description="the evaluation year, 2000-2100")
    selection_date: Date = Field(description="the date of the selection meeting, YYYY-MM-DD: milestones count from "
                                             "it")
    batch: int | None = Field(None, ge=1, le=12, description="the plan's batch, 1-12")
    complex_case: bool = Field(False, description="six months for the rectification report instead of three "
                                                  "(default false)")
    review_meeting_date: Date | None = Field(None, description="the meeting that will hear the report, YYYY-MM-DD, "
                                                               "if known")


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

    completed_on: Date = Field(description="when it was done, YYYY-MM-DD, not before the selection")
    document_url: Url | None = Field(None, description="the document (the plan, the report), an http(s) URL up to "
                                                       "1000 characters; public")


class InvestigationFindings(RequestModel):
    """The research group's findings (专题调研报告)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"findings": "专题调研组赴张店区、淄川区12个小区实地察看，召开座谈会3次。物业服务投诉整改进度滞后，老旧小区加装电梯等承诺事项未按期完成，建议再次听取整改情况报告。"}]})

    findings: prose(20000) = Field(description="the findings (1-20000 characters); internal, never published")


class CaseClose(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"closed_by": "淄博市人大常委会办公室"}]})

    closed_by: name(200) = Field(description="who closes it, e.g. the 主任会议 (1-200 characters)")


class MilestoneOut(BaseModel):
    kind: str = Field(description="rectification_plan (提交整改方案), rectification_report (提交整改情况报告) or "
                                  "review_meeting_report (常委会会议听取专项工作报告)")
    label: str = Field(description="the milestone in Chinese")
    due_on: dt.date = Field(description="due date, YYYY-MM-DD")
    status: str = Field(description="pending or done")
    completed_on: dt.date | None = Field(description="when it was done; null while pending")
    document_url: str | None = Field(description="its document; null if none")
    overdue: bool = Field(description="past due and not done")




CaseDetail.model_rebuild()
