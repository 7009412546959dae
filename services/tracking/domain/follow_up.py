"""What follows an unsatisfied vote: pure rules, no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.tracking.domain.milestones import add_days


@dataclass(frozen=True)
class FollowUp:
    investigation_due_on: dt.date
    rereport_vote_round: int
    rereport_mode: str


def plan_follow_up(meeting_date: dt.date, vote_round: int, investigation_days: int) -> FollowUp:
    """A 不满意 sends the department to a special investigation, then a re-report
    with inquiry or interpellation and a re-vote at the next meeting."""
    return FollowUp(
        investigation_due_on=add_days(meeting_date, investigation_days),
        rereport_vote_round=vote_round + 1,
        rereport_mode="inquiry_or_interpellation",
    )


CASE_STAGE_LABELS = {
    "rectification": "整改中",
    "investigation": "专题调研中",
    "awaiting_rereport": "待再次报告和表决",
    "escalated": "不满意后问责处理中",
    "closed": "已结案",
}
