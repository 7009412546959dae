"""Pure rules of tracking: milestone dates, overdue, when a case may close, sponsors."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from services.tracking.domain.escalation import distinct_sponsors, escalates
from services.tracking.domain.milestones import add_months, close_refusal, is_overdue, plan_milestones


def test_add_months_by_hand() -> None:
    assert add_months(dt.date(2021, 2, 26), 3) == dt.date(2021, 5, 26)
    assert add_months(dt.date(2021, 11, 30), 3) == dt.date(2022, 2, 28)  # clamped to February's end
    assert add_months(dt.date(2023, 11, 30), 3) == dt.date(2024, 2, 29)  # leap year
    assert add_months(dt.date(2021, 8, 31), 6) == dt.date(2022, 2, 28)
    assert add_months(dt.date(2021, 12, 15), 1) == dt.date(2022, 1, 15)


def test_milestones_of_the_2021_first_batch() -> None:
    planned = plan_milestones(dt.date(2021, 2, 26), complex_case=False, review_meeting_date=dt.date(2021, 8, 27))
    assert [(m.kind, m.due_on) for m in planned] == [
        ("rectification_plan", dt.date(2021, 3, 13)),
        ("rectification_report", dt.date(2021, 5, 26)),
        ("review_meeting_report", dt.date(2021, 8, 27)),
    ]
    complex_ = plan_milestones(dt.date(2021, 4, 29), complex_case=True, review_meeting_date=None)
    assert [(m.kind, m.due_on) for m in complex_] == [
        ("rectification_plan", dt.date(2021, 5, 14)),
        ("rectification_report", dt.date(2021, 10, 29)),
    ]


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)), st.booleans())
def test_the_report_is_due_three_or_six_months_later_never_earlier(selection: dt.date, complex_case: bool) -> None:
    plan, report = plan_milestones(selection, complex_case=complex_case, review_meeting_date=None)
    months = 6 if complex_case else 3
    assert plan.due_on - selection == dt.timedelta(days=15)
    assert (report.due_on.year * 12 + report.due_on.month) - (selection.year * 12 + selection.month) == months
    assert report.due_on.day <= selection.day
    assert report.due_on > plan.due_on


def test_overdue_only_after_the_due_day_and_only_when_unfinished() -> None:
    due = dt.date(2021, 6, 30)
    assert not is_overdue(due, False, dt.date(2021, 6, 30))
    assert is_overdue(due, False, dt.date(2021, 7, 1))
    assert not is_overdue(due, True, dt.date(2021, 7, 1))


def test_a_case_closes_only_on_a_passing_grade_with_every_commitment_finished() -> None:
    assert close_refusal("satisfied", ["done", "closed"]) is None
    assert close_refusal("basically_satisfied", []) is None
    assert close_refusal("unsatisfied", ["done"]) == "grade"
    assert close_refusal(None, []) == "grade"
    assert close_refusal("satisfied", ["done", "in_progress"]) == "open_commitments"
    assert close_refusal("satisfied", ["open"]) == "open_commitments"


def test_sponsors_are_counted_once_each() -> None:
    assert distinct_sponsors(["张三", "李四", " 张三 ", "", "王五"]) == ["张三", "李四", "王五"]
    assert not escalates(1) and escalates(2) and escalates(3)


@given(st.dates(), st.booleans(), st.integers(1, 365), st.sampled_from(["satisfied", "basically_satisfied", "unsatisfied"]))
def test_no_date_rule_overflows_anywhere_in_the_calendar(day: dt.date, complex_case: bool, days: int, feedback: str) -> None:
    """Requests take dates up to 2100 only; events could carry any date: no rule raises on one."""
    from services.tracking.domain.follow_up import plan_follow_up
    from services.tracking.domain.supervision import after_feedback, audit_report_due, motion_reply_due

    for milestone in plan_milestones(day, complex_case=complex_case, review_meeting_date=day):
        assert milestone.due_on >= day
    assert motion_reply_due(day, complex_case) >= day
    assert audit_report_due(day) >= day
    after_feedback(feedback, day)
    assert plan_follow_up(day, 1, days).investigation_due_on >= day
