from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.text import Date, DepartmentName, PersonName, RequestModel, Url, name, prose

AskerType = Literal["committee_member", "npc_deputy", "citizen_representative"]
ASKER_TYPE_LABELS = {"committee_member": "常委会组成人员", "npc_deputy": "人大代表", "citizen_representative": "市民代表"}


class WorkReportCreate(RequestModel):
    """The special work report (专项工作报告) heard at the review meeting."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "title": "淄博市住房和城乡建设局关于物业服务管理工作情况的报告",
            "submitted_on": "2021-08-10",
            "meeting_date": "2021-08-26",
            "document_url": "https://www.zbrd.gov.cn/pingyi/2021/zhujianju-zhuanxiang-baogao.pdf",
        },
    ]})

    title: name(300)
    submitted_on: Date
    meeting_date: Date
    document_url: Url


class WorkReportOut(BaseModel):
    id: str
    case_id: str
    title: str
    submitted_on: dt.date
    meeting_date: dt.date
    document_url: str
    created_at: dt.datetime


class InquiryQuestionCreate(RequestModel):
    """One question of the special inquiry (专题询问); a promised action with a deadline becomes a commitment."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "meeting_date": "2021-08-26",
            "asker": "王志强",
            "asker_type": "committee_member",
            "question": "老旧小区加装电梯群众期盼强烈，今年承诺的120部为何只完成了45部？下一步如何保证进度？",
            "answering_official": "淄博市住房和城乡建设局局长",
            "answer": "主要受审批流程和居民意见协调影响。我们将简化审批，实行并联办理。",
            "promised_action": "年底前完成老旧小区加装电梯120部",
            "promised_deadline": "2021-12-31",
        },
    ]})

    meeting_date: Date
    asker: PersonName
    asker_type: AskerType
    question: prose(5000)
    answering_official: name(200)
    answer: prose(10000)
    promised_action: prose(5000) | None = None
    promised_deadline: Date | None = None
    responsible_unit: DepartmentName | None = Field(None, description="defaults to the department")

    @model_validator(mode="after")
    def _action_and_deadline_together(self) -> InquiryQuestionCreate:
        if (self.promised_action is None) != (self.promised_deadline is None):
            raise ValueError("promised_action and promised_deadline go together")
        return self


class InquiryQuestionOut(BaseModel):
    id: str
    case_id: str
    meeting_date: dt.date
    asker: str
    asker_type: AskerType
    asker_type_label: str
    question: str
    answering_official: str
    answer: str
    promised_action: str | None
    promised_deadline: dt.date | None
    commitment_id: str | None
    created_at: dt.datetime
