from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.web.text import Date, DepartmentName, PersonName, RequestModel, Url, name, prose

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

    title: name(300) = Field(description="the report's title (1-300 characters); public")
    submitted_on: Date = Field(description="when it was submitted, YYYY-MM-DD, not after the meeting")
    meeting_date: Date = Field(description="the review meeting that hears it, YYYY-MM-DD")
    document_url: Url = Field(description="the report's document, an http(s) URL; public")


class WorkReportOut(BaseModel):
    id: str = Field(description="the report's id (UUID)")
    case_id: str = Field(description="the case")
    title: str = Field(description="the report's title")
    submitted_on: dt.date = Field(description="when it was submitted")
    meeting_date: dt.date = Field(description="the review meeting")
    document_url: str = Field(description="the report's document")
    created_at: dt.datetime = Field(description="when it was recorded (ISO 8601, UTC)")


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

    meeting_date: Date = Field(description="the inquiry's meeting, YYYY-MM-DD")
    asker: PersonName = Field(description="who asked (1-100 characters); a citizen representative is published by "
                                          "role only")
    asker_type: AskerType = Field(description="committee_member (常委会组成人员), npc_deputy (人大代表) or "
                                              "citizen_representative (市民代表)")
    question: prose(5000) = Field(description="the question (1-5000 characters); public")
    answering_official: name(200) = Field(description="who answered, by office (1-200 characters); public")
    answer: prose(10000) = Field(description="the answer (1-10000 characters); public")
    promised_action: prose(5000) | None = Field(None, description="an action promised; with promised_deadline it "
                                                                  "becomes a commitment")
    promised_deadline: Date | None = Field(None, description="its deadline, YYYY-MM-DD; with promised_action")
    responsible_unit: DepartmentName | None = Field(None, description="defaults to the department")

    @model_validator(mode="after")
    def _action_and_deadline_together(self) -> InquiryQuestionCreate:
        if (self.promised_action is None) != (self.promised_deadline is None):
            raise ValueError("promised_action and promised_deadline go together")
        return self


class InquiryQuestionOut(BaseModel):
    id: str = Field(description="the question's id (UUID)")
    case_id: str = Field(description="the case")
    meeting_date: dt.date = Field(description="the inquiry's meeting")
    asker: str = Field(description="who asked")
    asker_type: AskerType = Field(description="committee_member (常委会组成人员), npc_deputy (人大代表) or "
                                              "citizen_representative (市民代表)")
    asker_type_label: str = Field(description="the asker's type in Chinese")
    question: str = Field(description="the question")
    answering_official: str = Field(description="who answered")
    answer: str = Field(description="the answer")
    promised_action: str | None = Field(description="the action promised; null if none")
    promised_deadline: dt.date | None = Field(description="its deadline; null if none")
    commitment_id: str | None = Field(description="the commitment made from it; null if none")
    created_at: dt.datetime = Field(description="when it was recorded (ISO 8601, UTC)")
