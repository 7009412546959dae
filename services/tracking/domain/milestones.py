"""Deadlines of a rectification case: pure rules, no I/O."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

PLAN_DAYS = 15  # rectification plan within 15 days of the selection
REPORT_MONTHS = 3
COMPLEX_REPORT_MONTHS = 6

MILESTONE_LABELS = {
    "rectification_plan": "提交整改方案",
    "rectification_report": "提交整改情况报告",
    "review_meeting_report": "常委会会议听取专项工作报告",
}

OPEN_COMMITMENT_STATUSES = ("open", "in_progress")
FINISHED_COMMITMENT_STATUSES = ("done", "closed")
PASSING_GRADES = ("satisfied", "basically_satisfied")


@dataclass(frozen=True)
class PlannedMilestone:
    kind: str
    due_on: dt.date


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's end (Nov 30 + 3 → Feb 28/29).

    Past the calendar's end it stays at `date.max`: the API takes dates up to 2100
    only (shared.web.text), so this guards an event carrying an odd date, never a request."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if year > dt.MAXYEAR:
        return dt.date.max
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_days(day: dt.date, days: int) -> dt.date:
    """`day + days`, staying at `date.max` past the calendar's end (see `add_months`)."""
    return day + dt.timedelta(days=days) if (dt.date.max - day).days >= days else dt.date.max


def plan_milestones(selection_date: dt.date, *, complex_case: bool, review_meeting_date: dt.date | None) -> list[PlannedMilestone]:
    milestones = [
        PlannedMilestone("rectification_plan", add_days(selection_date, PLAN_DAYS)),
        PlannedMilestone("rectification_report", add_months(selection_date, COMPLEX_REPORT_MONTHS if complex_case else REPORT_MONTHS)),
    ]
    if review_meeting_date is not None:
        milestones.append(PlannedMilestone("review_meeting_report", review_meeting_date))
    return milestones


def is_overdue(due_on: dt.date, finished: bool, today: dt.date) -> bool:
    """Past its date and not finished; the due day itself is still on time."""
    return not finished and today > due_on


def close_refusal(latest_grade: str | None, commitment_statuses: list[str]) -> str | None:
    """Why a case may not close yet, or None: it needs a passing latest grade and
    every commitment done or closed with a reason."""
    if latest_grade not in PASSING_GRADES:
        return "grade"
    if any(s not in FINISHED_COMMITMENT_STATUSES for s in commitment_statuses):
        return "open_commitments"
    return None
