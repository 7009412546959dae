from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.web.text import Date, DepartmentName, PersonName, RequestModel, name, prose, text


EvidenceKind = Literal["hotline_category", "investigation_finding", "inquiry_question", "other"]


class EvidenceLink(RequestModel):
    """What shows the problem exists: a 12345 category, a finding, an inquiry question."""

    kind: EvidenceKind = Field(description="hotline_category (a 12345 category), investigation_finding, "
                                           "inquiry_question or other")
    reference: text(200, min_length=1) = Field(description="category code, or the investigation / question id")
    label: text(300) = Field("", description="what it reads as (at most 300 characters); public")


class CommitmentCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "problem": "12345热线反映物业服务投诉集中，2020年物业类工单3126件，群众净投诉量居全市首位。",
            "evidence": [{"kind": "hotline_category", "reference": "wuye-fuwu", "label": "物业服务"}],
            "measure": "开展物业服务质量专项整治，建立物业企业信用评价和退出机制，每季度通报投诉办理情况。",
            "responsible_unit": "淄博市住房和城乡建设局",
            "responsible_person": "刘振华",
            "deadline": "2021-06-30",
        },
    ]})

    problem: prose(5000) = Field(description="the problem found (1-5000 characters); public")
    evidence: list[EvidenceLink] = Field(default_factory=list, max_length=50,
                                         description="what shows the problem exists, at most 50")
    measure: prose(5000) = Field(description="the rectification measure promised (1-5000 characters); public")
    responsible_unit: DepartmentName = Field(description="the unit responsible (1-200 characters); public")
    responsible_person: PersonName = Field(description="the person responsible (1-100 characters); not public")
    deadline: Date = Field(description="when it is to be done, YYYY-MM-DD, not before the selection; public")
    internal_note: prose(5000, min_length=0) | None = Field(None, description="for the committee's staff; never published")


class AttachmentUpload(RequestModel):
    file_name: name(255) = Field(description="the file's name (1-255 characters); public")
    content_type: text(100, min_length=1) = Field("application/octet-stream", description="its media type, e.g. application/pdf")
    # Bounded by the body's cap (TRACKING_PROGRESS_BODY_MAX_BYTES); the decoded file has its own
    # (TRACKING_ATTACHMENT_MAX_BYTES); what is not base64 is refused as attachment-not-base64.
    content_base64: str = Field(min_length=1,
                                description="the file's bytes, base64; decoded at most "
                                            "TRACKING_ATTACHMENT_MAX_BYTES; public")


class ProgressCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "reported_on": "2021-05-20",
            "text": "已完成全市482个住宅小区物业服务检查，约谈物业企业37家，清退2家；物业类工单环比下降18%。",
            "percent_complete": 60,
            "attachments": [
                {
                    "file_name": "物业整改台账.txt",
                    "content_type": "text/plain",
                    "content_base64": "5reE5Y2a5biC5L2P5oi/5ZKM5Z+O5Lmh5bu66K6+5bGA54mp5Lia5pyN5Yqh5oqV6K+J5pW05pS55Y+w6LSm77yIMjAyMeW5tDbmnIjvvIkK",
                },
            ],
        },
    ]})

    reported_on: Date = Field(description="the report's date, YYYY-MM-DD, not before the selection")
    text: prose(10000) = Field(description="what was done (1-10000 characters); public")
    percent_complete: int = Field(ge=0, le=100, description="0-100; public")
    attachments: list[AttachmentUpload] = Field(default_factory=list, max_length=20,
                                                description="files, at most 20; public")
    internal_note: prose(5000, min_length=0) | None = Field(None, description="for the committee's staff (at most 5000 "
                                                                              "characters); never published")


class CommitmentComplete(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"completed_on": "2021-06-28", "evidence": "物业企业信用评价办法已印发（淄建发〔2021〕15号），二季度投诉通报已在局网站公开。"}]})

    completed_on: Date = Field(description="when it was done, YYYY-MM-DD")
    evidence: prose(10000) = Field(description="what shows the measure is done")


class CommitmentCloseWithReason(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "该项整改已纳入市政府2021年民生实事统一推进，经主任会议研究同意销号。"}]})

    reason: prose(5000) = Field(description="why it is closed (销号) (1-5000 characters); public")


class AttachmentOut(BaseModel):
    id: str = Field(description="the attachment's id (UUID)")
    file_name: str = Field(description="the file's name")
    content_type: str = Field(description="its media type")
    size: int = Field(description="bytes")
    sha256: str = Field(description="SHA-256 of the content, hex; also its ETag")
    created_at: dt.datetime = Field(description="when it was stored (ISO 8601, UTC)")


class ProgressOut(BaseModel):
    id: str = Field(description="the report's id (UUID)")
    commitment_id: str = Field(description="the commitment")
    reported_on: dt.date = Field(description="the report's date")
    text: str = Field(description="what was done")
    percent_complete: int = Field(description="0-100")
    internal_note: str | None = Field(description="internal: null without tracking:read-internal")
    attachments: list[AttachmentOut] = Field(description="its files")
    created_at: dt.datetime = Field(description="when it was recorded (ISO 8601, UTC)")


class CommitmentOut(BaseModel):
    id: str = Field(description="the commitment's id (UUID)")
    case_id: str = Field(description="the case")
    problem: str = Field(description="the problem; public")
    evidence: list[EvidenceLink] = Field(description="what shows the problem")
    measure: str = Field(description="the measure; public")
    responsible_unit: str = Field(description="the unit responsible; public")
    responsible_person: str = Field(description="the person responsible; not public")
    deadline: dt.date = Field(description="due date, YYYY-MM-DD; public")
    status: str = Field(description="open (未开始), in_progress (整改中), done (已完成) or closed (已销号); public")
    status_label: str = Field(description="the status in Chinese; public")
    percent_complete: int = Field(description="the last progress report's percent, 0-100; public")
    completed_on: dt.date | None = Field(description="when it was done; null until then")
    completion_evidence: str | None = Field(description="what shows it done; null until then")
    close_reason: str | None = Field(description="why it was closed (销号); null if not")
    internal_note: str | None = Field(description="internal: null without tracking:read-internal")
    inquiry_question_id: str | None = Field(description="the inquiry question it came from; null if none")
    overdue: bool = Field(description="past the deadline and not finished; public")
    created_at: dt.datetime = Field(description="when it was added (ISO 8601, UTC)")
    updated_at: dt.datetime = Field(description="the last change (ISO 8601, UTC)")


class CommitmentDetail(CommitmentOut):
    progress: list[ProgressOut] = Field(description="every progress report, oldest first")
