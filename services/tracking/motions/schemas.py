from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.web.text import Date, DepartmentName, PersonName, RequestModel, name, prose

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
    title: name(300) = Field(description="the motion's title (1-300 characters)")
    sponsors: list[PersonName] = Field(min_length=1, max_length=200,
                                       description="the deputies sponsoring it, 1-200 names")
    assigned_unit: DepartmentName = Field(description="the unit assigned to handle it (1-200 characters)")
    assigned_on: Date = Field(description="when it was assigned, YYYY-MM-DD: the reply is due 3 months later")
    complex_case: bool = Field(False, description="a complex motion: the reply is due in 6 months (default false)")


class MotionExtension(RequestModel):
    """A later reply date; it needs an approver."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"approved_by": "淄博市人大常委会代表工作委员会", "reason": "涉及多部门联合办理，需延期答复。", "new_due_on": "2021-07-05"}]})

    approved_by: name(200) = Field(description="who approved the extension (1-200 characters)")
    reason: prose(5000) = Field(description="why (1-5000 characters)")
    new_due_on: Date = Field(description="the new reply date, YYYY-MM-DD, after the current one")


class MotionReply(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"replied_on": "2021-05-28", "reply": "2021年计划改造老旧小区186个，已开工132个，年底前全部完工。", "result_code": "A"}]})

    replied_on: Date = Field(description="when, YYYY-MM-DD, not before the assignment")
    reply: prose(20000) = Field(description="the reply (1-20000 characters)")
    result_code: ResultCode = Field(description="A (solved or mostly), B (planned, being solved), C (to be solved "
                                                "later), D (cannot be solved, explained)")


class MotionFeedback(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"feedback": "basically_satisfied", "feedback_on": "2021-06-10"}]})

    feedback: Feedback = Field(description="the deputy's view: satisfied (满意), basically_satisfied (基本满意) or "
                                           "unsatisfied (不满意); 不满意 sends it back for another reply in 3 months")
    feedback_on: Date = Field(description="when, YYYY-MM-DD, not before the reply")


class HistoryEntry(BaseModel):
    at: dt.datetime = Field(description="when (ISO 8601, UTC)")
    kind: str = Field(description="what changed, e.g. assigned, replied, redo")
    summary: str = Field(description="the change in Chinese")
    source: str = Field(description="where the change came from: `http:<method> <path> request_id=<id>` for a "
                                    "request, `event:<event_id>` for a handled event")


class MotionOut(BaseModel):
    id: str = Field(description="the motion's id (UUID)")
    number: str = Field(description="the motion's number, e.g. 议案第3号")
    title: str = Field(description="the motion's title")
    sponsors: list[str] = Field(description="the sponsoring deputies")
    assigned_unit: str = Field(description="the unit handling it")
    assigned_on: dt.date = Field(description="when it was assigned")
    complex_case: bool = Field(description="6 months for the reply instead of 3")
    reply_due_on: dt.date = Field(description="when the reply is due, YYYY-MM-DD")
    extension_approved_by: str | None = Field(description="who approved an extension; null if none")
    extension_reason: str | None = Field(description="why; null if none")
    status: str = Field(description="assigned (办理中), replied (已答复待反馈), redo (重新办理) or closed (已办结)")
    status_label: str = Field(description="the status in Chinese")
    reply: str | None = Field(description="the last reply; null until replied")
    replied_on: dt.date | None = Field(description="when; null until replied")
    result_code: ResultCode | None = Field(description="A (solved or mostly), B (planned, being solved), C (to be "
                                                       "solved later), D (cannot be solved, explained); null until "
                                                       "replied")
    result_label: str | None = Field(description="the result code in Chinese")
    feedback: Feedback | None = Field(description="satisfied (满意), basically_satisfied (基本满意) or unsatisfied (不满意);"
                                                  " null until given")
    feedback_label: str | None = Field(description="the feedback in Chinese")
    feedback_on: Date | None = Field(description="when; null until given")
    redo_count: int = Field(description="times 不满意 sent it back")
    overdue: bool = Field(description="past reply_due_on without a reply")
    history: list[HistoryEntry] = Field(description="every change, oldest first")
