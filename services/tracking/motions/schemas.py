from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from shared.text import Date, DepartmentName, PersonName, RequestModel, name, prose

ResultCode = Literal["A", "B", "C", "D"]
Feedback = Literal["satisfied", "basically_satisfied", "unsatisfied"]


class MotionCreate(RequestModel):
    number: name(50) = Field(description="the motion's number, e.g. 议案第3号")
    title: name(300)
    sponsors: list[PersonName] = Field(min_length=1, max_length=200)
    assigned_unit: DepartmentName
    assigned_on: Date
    complex_case: bool = False


class MotionExtension(RequestModel):
    """A later reply date; it needs an approver."""

    approved_by: name(200)
    reason: prose(5000)
    new_due_on: Date


class MotionReply(RequestModel):
    replied_on: Date
    reply: prose(20000)
    result_code: ResultCode


class MotionFeedback(RequestModel):
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
