from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.text import Date, DepartmentName, PersonName, RequestModel, name, prose

ResultCode = Literal["A", "B", "C", "D"]
Feedback = Literal["satisfied", "basically_satisfied", "unsatisfied"]


class MotionCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "number": "议案第3号",
            "title": "关于加快老旧小区改造的议案",
            "sponsors": ["孙立新", "周晓燕", "吴国栋"],
            "assigned_unit": "淄博市住房和城乡建设局",
            "assigned_on": "2021-03-05",
        },
    ]})

    number: name(50) = Field(description="the motion's number, e.g. 议案第3号")
    title: name(300)
    sponsors: list[PersonName] = Field(min_length=1, max_length=200)
    assigned_unit: DepartmentName
    assigned_on: Date
    complex_case: bool = False


class MotionExtension(RequestModel):
    """A later reply date; it needs an approver."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"approved_by": "淄博市人大常委会代表工作委员会", "reason": "涉及多部门联合办理，需延期答复。", "new_due_on": "2021-07-05"}]})

    approved_by: name(200)
    reason: prose(5000)
    new_due_on: Date


class MotionReply(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"replied_on": "2021-05-28", "reply": "2021年计划改造老旧小区186个，已开工132个，年底前全部完工。", "result_code": "A"}]})

    replied_on: Date
    reply: prose(20000)
    result_code: ResultCode


class MotionFeedback(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"feedback": "basically_satisfied", "feedback_on": "2021-06-10"}]})

    feedback: Feedback
    feedback_on: Date


class HistoryEntry(BaseModel):
    at: dt.datetime
    kind: str
    summary: str
    source: str


class MotionOut(BaseModel):
    id: str
    number: str
    title: str
    sponsors: list[str]
    assigned_unit: str
    assigned_on: dt.date
    complex_case: bool
    reply_due_on: dt.date
    extension_approved_by: str | None
    extension_reason: str | None
    status: str
    status_label: str
    reply: str | None
    replied_on: dt.date | None
    result_code: ResultCode | None
    result_label: str | None
    feedback: Feedback | None
    feedback_label: str | None
    feedback_on: Date | None
    redo_count: int
    overdue: bool
    history: list[HistoryEntry]
