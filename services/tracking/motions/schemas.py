from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ResultCode = Literal["A", "B", "C", "D"]
Feedback = Literal["satisfied", "basically_satisfied", "unsatisfied"]


class MotionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=50, description="the motion's number, e.g. 议案第3号")
    title: str = Field(min_length=1, max_length=300)
    sponsors: list[str] = Field(min_length=1, max_length=200)
    assigned_unit: str = Field(min_length=1, max_length=200)
    assigned_on: dt.date
    complex_case: bool = False


class MotionExtension(BaseModel):
    """A later reply date; it needs an approver."""

    model_config = ConfigDict(extra="forbid")

    approved_by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=5000)
    new_due_on: dt.date


class MotionReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replied_on: dt.date
    reply: str = Field(min_length=1, max_length=20000)
    result_code: ResultCode


class MotionFeedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: Feedback
    feedback_on: dt.date


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
    feedback_on: dt.date | None
    redo_count: int
    overdue: bool
    history: list[HistoryEntry]
