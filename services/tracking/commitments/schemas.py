from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.text import Date, DepartmentName, PersonName, RequestModel, name, prose, text


EvidenceKind = Literal["hotline_category", "investigation_finding", "inquiry_question", "other"]


class EvidenceLink(RequestModel):
    """What shows the problem exists: a 12345 category, a finding, an inquiry question."""

    kind: EvidenceKind
    reference: text(200, min_length=1) = Field(description="category code, or the investigation / question id")
    label: text(300) = ""


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

    problem: prose(5000)
    evidence: list[EvidenceLink] = Field(default_factory=list, max_length=50)
    measure: prose(5000)
    responsible_unit: DepartmentName
    responsible_person: PersonName
    deadline: Date
    internal_note: prose(5000, min_length=0) | None = Field(None, description="for the committee's staff; never published")


class AttachmentUpload(RequestModel):
    file_name: name(255)
    content_type: text(100, min_length=1) = "application/octet-stream"
    # Bounded by the body's cap (TRACKING_PROGRESS_BODY_MAX_BYTES); the decoded file has its own
    # (TRACKING_ATTACHMENT_MAX_BYTES); what is not base64 is refused as attachment-not-base64.
    content_base64: str = Field(min_length=1)


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

    reported_on: Date
    text: prose(10000)
    percent_complete: int = Field(ge=0, le=100)
    attachments: list[AttachmentUpload] = Field(default_factory=list, max_length=20)
    internal_note: prose(5000, min_length=0) | None = None


class CommitmentComplete(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"completed_on": "2021-06-28", "evidence": "物业企业信用评价办法已印发（淄建发〔2021〕15号），二季度投诉通报已在局网站公开。"}]})

    completed_on: Date
    evidence: prose(10000) = Field(description="what shows the measure is done")


class CommitmentCloseWithReason(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "该项整改已纳入市政府2021年民生实事统一推进，经主任会议研究同意销号。"}]})

    reason: prose(5000)


class AttachmentOut(BaseModel):
    id: str
    file_name: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime


class ProgressOut(BaseModel):
    id: str
    commitment_id: str
    reported_on: dt.date
    text: str
    percent_complete: int
    internal_note: str | None
    attachments: list[AttachmentOut]
    created_at: dt.datetime


class CommitmentOut(BaseModel):
    id: str
    case_id: str
    problem: str
    evidence: list[EvidenceLink]
    measure: str
    responsible_unit: str
    responsible_person: str
    deadline: dt.date
    status: str
    status_label: str
    percent_complete: int
    completed_on: dt.date | None
    completion_evidence: str | None
    close_reason: str | None
    internal_note: str | None
    inquiry_question_id: str | None
    overdue: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CommitmentDetail(CommitmentOut):
    progress: list[ProgressOut]
