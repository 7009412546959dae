"""Tracking opens a case on 不满意, sends the research group to investigate and
schedules the re-report and re-vote (vote.marked_unsatisfied → rereport.scheduled);
it keeps each case's latest grade (score.computed). SQLite and Postgres."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from services.tracking.cases.service import record_grade, vote_marked_unsatisfied_handler
from shared.messaging.events import (
    Envelope,
    RereportScheduled,
    SatisfactionScore,
    ScoreComputed,
    Topic,
    VoteMarkedUnsatisfied,
)
from shared.messaging.inbox import HandleOutcome, handle_once

DEPT = "淄博市生态环境局"
YEAR = 2021
MEETING_DATE = dt.date(2021, 8, 27)
RESEARCH_GROUP = "专项调研组"


def marked_unsatisfied(
    *,
    department: str = DEPT,
    year: int = YEAR,
    unsatisfied_round: int = 1,
    vote_round: int = 1,
    meeting_date: dt.date = MEETING_DATE,
) -> Envelope:
    return VoteMarkedUnsatisfied(
        department=department,
        evaluation_year=year,
        unsatisfied_round=unsatisfied_round,
        vote_round=vote_round,
        ballot_id=str(uuid.uuid4()),
        meeting_id=str(uuid.uuid4()),
        meeting_date=meeting_date,
    ).envelope(producer="scoring", key=department)


def score_computed(grade: str, *, department: str = DEPT, year: int = YEAR, vote_round: int = 1) -> Envelope:
    labels = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
    return ScoreComputed(
        computation_id=str(uuid.uuid4()),
        kind="satisfaction",
        satisfaction=SatisfactionScore(
            ballot_id=str(uuid.uuid4()),
            department=department,
            evaluation_year=year,
            vote_round=vote_round,
            meeting_id=str(uuid.uuid4()),
            meeting_date=MEETING_DATE,
            grade=grade,
            grade_label=labels[grade],
            counts={"satisfied": 40, "basically_satisfied": 10, "unsatisfied": 5},
            denominator=60,
            denominator_basis="all_members",
        ),
    ).envelope(producer="scoring", key=department)


def deliver_unsatisfied(h, envelope: Envelope) -> str:
    handler = vote_marked_unsatisfied_handler(45, RESEARCH_GROUP)
    return handle_once(h.db, h.models.InboxMessage, handler, Envelope.from_bytes(envelope.to_bytes()))


def deliver_grade(h, envelope: Envelope) -> str:
    return handle_once(h.db, h.models.InboxMessage, record_grade, Envelope.from_bytes(envelope.to_bytes()))


def rereport_events(h) -> list[Envelope]:
    rows = h.outbox(Topic.REREPORT_SCHEDULED.value)
    envelopes = [Envelope.model_validate_json(r.body) for r in rows]
    for row, env in zip(rows, envelopes):
        assert row.event_id == str(env.event_id)
        assert row.key == env.key
        assert env.producer == "tracking"
        assert env.type == Topic.REREPORT_SCHEDULED.value
    return envelopes


def only_case(h) -> dict:
    r = h.client.get("/v1/cases")
    assert r.status_code == 200, r.text
    [case] = r.json()["items"]
    detail = h.client.get(f"/v1/cases/{case['id']}")
    assert detail.status_code == 200, detail.text
    return detail.json()


def count_rows(h, model) -> int:
    with h.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


# --- first 不满意 --------------------------------------------------------------


def test_a_first_unsatisfied_vote_opens_a_case_with_investigation_and_rereport(tracking) -> None:
    envelope = marked_unsatisfied()
    event = VoteMarkedUnsatisfied.from_envelope(envelope)
    assert deliver_unsatisfied(tracking, envelope) == HandleOutcome.HANDLED

    listed = tracking.client.get("/v1/cases").json()["items"]
    assert len(listed) == 1
    summary = listed[0]
    assert summary["department"] == DEPT
    assert summary["evaluation_year"] == YEAR
    assert summary["status"] == "open"
    assert summary["stage"] == "investigation"
    assert summary["stage_label"] == "专题调研中"
    assert summary["latest_grade"] == "unsatisfied"

    case = only_case(tracking)
    assert {k: case[k] for k in summary} == summary

    [rnd] = case["unsatisfied_rounds"]
    assert rnd["round"] == 1
    assert rnd["vote_round"] == 1
    assert rnd["ballot_id"] == event.ballot_id
    assert rnd["meeting_id"] == event.meeting_id
    assert rnd["meeting_date"] == "2021-08-27"

    [investigation] = case["investigations"]
    assert investigation["case_id"] == case["id"]
    assert investigation["unsatisfied_round"] == 1
    assert investigation["research_group"] == RESEARCH_GROUP
    assert investigation["status"] == "open"
    assert investigation["due_on"] == str(MEETING_DATE + dt.timedelta(days=45)) == "2021-10-11"
    assert investigation["findings"] is None

    [rereport] = case["rereports"]
    assert rereport["vote_round"] == 2
    assert rereport["mode"] == "inquiry_or_interpellation"
    assert rereport["after_meeting_id"] == event.meeting_id
    assert rereport["after_meeting_date"] == "2021-08-27"
    assert rereport["investigation_id"] == investigation["id"]

    [scheduled] = rereport_events(tracking)
    assert scheduled.key == DEPT
    assert RereportScheduled.from_envelope(scheduled) == RereportScheduled(
        case_id=case["id"],
        department=DEPT,
        evaluation_year=YEAR,
        vote_round=2,
        after_meeting_id=event.meeting_id,
        after_meeting_date=MEETING_DATE,
        mode="inquiry_or_interpellation",
        investigation_id=investigation["id"],
    )
    with tracking.db.session() as session:
        stored = session.get(tracking.models.Rereport, rereport["id"])
        assert stored.event_id == str(scheduled.event_id)

    timeline = case["timeline"]
    kinds = [t["kind"] for t in timeline]
    assert sorted(kinds) == sorted(["case_opened", "unsatisfied", "investigation_opened", "rereport_scheduled"])
    assert {t["source"] for t in timeline} == {f"event:{envelope.event_id}"}
    ats = [dt.datetime.fromisoformat(t["at"]) for t in timeline]
    assert ats == sorted(ats)
    assert all(a.utcoffset() == dt.timedelta(0) for a in ats)
    assert all(t["summary"] for t in timeline)
    assert any("专题调研" in t["summary"] and RESEARCH_GROUP in t["summary"] for t in timeline)


def test_investigations_are_listed_by_case(tracking) -> None:
    deliver_unsatisfied(tracking, marked_unsatisfied())
    deliver_unsatisfied(tracking, marked_unsatisfied(department="淄博市住房和城乡建设局"))
    cases = {c["department"]: c["id"] for c in tracking.client.get("/v1/cases").json()["items"]}
    assert len(tracking.client.get("/v1/investigations").json()["items"]) == 2
    mine = tracking.client.get("/v1/investigations", params={"case_id": cases[DEPT]}).json()["items"]
    assert [i["case_id"] for i in mine] == [cases[DEPT]]


def test_the_apps_own_handler_uses_the_45_day_default(tracking) -> None:
    handler = tracking.app.state.runtime.handlers[Topic.VOTE_MARKED_UNSATISFIED.value]
    assert handle_once(tracking.db, tracking.models.InboxMessage, handler, marked_unsatisfied()) == HandleOutcome.HANDLED
    [investigation] = only_case(tracking)["investigations"]
    assert investigation["due_on"] == "2021-10-11"
    assert investigation["research_group"] == "专项调研组"


# --- at-least-once delivery --------------------------------------------------


def test_a_redelivered_unsatisfied_event_has_no_second_effect(tracking) -> None:
    envelope = marked_unsatisfied()
    assert deliver_unsatisfied(tracking, envelope) == HandleOutcome.HANDLED
    before = only_case(tracking)
    assert deliver_unsatisfied(tracking, envelope) == HandleOutcome.DUPLICATE

    after = only_case(tracking)
    assert after == before
    assert len(after["unsatisfied_rounds"]) == 1
    assert len(after["investigations"]) == 1
    assert len(after["rereports"]) == 1
    assert len(rereport_events(tracking)) == 1
    m = tracking.models
    assert count_rows(tracking, m.UnsatisfiedRound) == 1
    assert count_rows(tracking, m.Investigation) == 1
    assert count_rows(tracking, m.TimelineEntry) == 4
    assert count_rows(tracking, m.InboxMessage) == 1


def test_the_same_round_announced_again_under_a_new_event_id_is_followed_up_once(tracking) -> None:
    envelope = marked_unsatisfied()
    republished = Envelope(**{**envelope.model_dump(), "event_id": uuid.uuid4()})
    assert deliver_unsatisfied(tracking, envelope) == HandleOutcome.HANDLED
    assert deliver_unsatisfied(tracking, republished) == HandleOutcome.HANDLED

    case = only_case(tracking)
    assert len(case["unsatisfied_rounds"]) == 1
    assert len(case["investigations"]) == 1
    assert len(rereport_events(tracking)) == 1


def test_a_satisfied_revote_returns_the_case_to_rectification(tracking) -> None:
    deliver_unsatisfied(tracking, marked_unsatisfied())
    assert only_case(tracking)["stage"] == "investigation"
    deliver_grade(tracking, score_computed("basically_satisfied", vote_round=2))
    case = only_case(tracking)
    assert (case["stage"], case["stage_label"]) == ("rectification", "整改中")


def test_a_failing_handler_leaves_no_case_and_no_event(tracking) -> None:
    envelope = marked_unsatisfied()

    def broken(session, env):
        vote_marked_unsatisfied_handler(45, RESEARCH_GROUP)(session, env)
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        handle_once(tracking.db, tracking.models.InboxMessage, broken, envelope)
    assert tracking.client.get("/v1/cases").json()["items"] == []
    assert tracking.outbox() == []
    assert deliver_unsatisfied(tracking, envelope) == HandleOutcome.HANDLED
    assert len(rereport_events(tracking)) == 1


# --- second 不满意 ------------------------------------------------------------


def test_a_second_unsatisfied_vote_adds_a_second_round_to_the_same_case(tracking) -> None:
    first = marked_unsatisfied()
    second_date = dt.date(2021, 10, 28)
    second = marked_unsatisfied(unsatisfied_round=2, vote_round=2, meeting_date=second_date)
    deliver_unsatisfied(tracking, first)
    deliver_unsatisfied(tracking, second)

    case = only_case(tracking)  # still one case
    assert [(r["round"], r["vote_round"], r["meeting_date"]) for r in case["unsatisfied_rounds"]] == [
        (1, 1, "2021-08-27"),
        (2, 2, "2021-10-28"),
    ]
    assert sorted((i["unsatisfied_round"], i["due_on"]) for i in case["investigations"]) == [
        (1, "2021-10-11"),
        (2, str(second_date + dt.timedelta(days=45))),
    ]
    assert [r["vote_round"] for r in case["rereports"]] == [2, 3]
    assert case["latest_grade"] == "unsatisfied"

    scheduled = [RereportScheduled.from_envelope(e) for e in rereport_events(tracking)]
    assert [(s.case_id, s.vote_round, s.after_meeting_date) for s in scheduled] == [
        (case["id"], 2, MEETING_DATE),
        (case["id"], 3, second_date),
    ]
    sources = {t["source"] for t in case["timeline"]}
    assert sources == {f"event:{first.event_id}", f"event:{second.event_id}"}


def test_cases_are_per_department_and_year(tracking) -> None:
    deliver_unsatisfied(tracking, marked_unsatisfied())
    deliver_unsatisfied(tracking, marked_unsatisfied(department="淄博市住房和城乡建设局"))
    deliver_unsatisfied(tracking, marked_unsatisfied(year=2022, meeting_date=dt.date(2022, 8, 26)))
    listed = tracking.client.get("/v1/cases").json()["items"]
    assert sorted((c["department"], c["evaluation_year"]) for c in listed) == sorted(
        [(DEPT, 2021), ("淄博市住房和城乡建设局", 2021), (DEPT, 2022)]
    )
    assert [c["evaluation_year"] for c in tracking.client.get("/v1/cases", params={"department": DEPT}).json()["items"]] == [2021, 2022]
    assert len(tracking.client.get("/v1/cases", params={"evaluation_year": 2022}).json()["items"]) == 1


# --- score.computed ----------------------------------------------------------


def test_a_computed_grade_is_recorded_as_the_latest_grade(tracking) -> None:
    deliver_unsatisfied(tracking, marked_unsatisfied())
    before = only_case(tracking)
    grade = score_computed("basically_satisfied", vote_round=2)
    assert deliver_grade(tracking, grade) == HandleOutcome.HANDLED

    case = only_case(tracking)
    assert case["latest_grade"] == "basically_satisfied"
    assert dt.datetime.fromisoformat(case["updated_at"]) > dt.datetime.fromisoformat(before["updated_at"])
    assert case["opened_at"] == before["opened_at"]
    [graded] = [t for t in case["timeline"] if t["kind"] == "graded"]
    assert graded["source"] == f"event:{grade.event_id}"
    assert "基本满意" in graded["summary"]
    # Recording a grade announces nothing.
    assert len(rereport_events(tracking)) == 1


def test_a_grade_for_a_department_without_case_opens_one(tracking) -> None:
    grade = score_computed("satisfied")
    deliver_grade(tracking, grade)
    case = only_case(tracking)
    assert (case["department"], case["evaluation_year"], case["latest_grade"]) == (DEPT, YEAR, "satisfied")
    assert case["unsatisfied_rounds"] == [] and case["investigations"] == [] and case["rereports"] == []
    assert {t["kind"] for t in case["timeline"]} == {"case_opened", "graded"}
    assert tracking.outbox() == []


def test_a_redelivered_grade_is_recorded_once(tracking) -> None:
    grade = score_computed("satisfied")
    assert deliver_grade(tracking, grade) == HandleOutcome.HANDLED
    assert deliver_grade(tracking, grade) == HandleOutcome.DUPLICATE
    assert [t["kind"] for t in only_case(tracking)["timeline"]].count("graded") == 1


def test_a_composite_ranking_score_is_ignored(tracking) -> None:
    envelope = ScoreComputed(computation_id="c1", kind="composite_ranking", ranking=[], slate=[]).envelope(
        producer="scoring", key="plan-2021"
    )
    assert deliver_grade(tracking, envelope) == HandleOutcome.HANDLED
    assert tracking.client.get("/v1/cases").json()["items"] == []


def test_the_app_routes_score_computed_to_record_grade(tracking) -> None:
    handler = tracking.app.state.runtime.handlers[Topic.SCORE_COMPUTED.value]
    handle_once(tracking.db, tracking.models.InboxMessage, handler, score_computed("unsatisfied"))
    assert only_case(tracking)["latest_grade"] == "unsatisfied"


# --- reading -----------------------------------------------------------------


def test_an_unknown_case_is_a_404_problem(tracking) -> None:
    case_id = str(uuid.uuid4())
    r = tracking.client.get(f"/v1/cases/{case_id}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == "urn:pingyi:problem:not-found"
    assert body["status"] == 404
    assert case_id in body["detail"]


def test_no_cases_at_first(tracking) -> None:
    assert tracking.client.get("/v1/cases").json()["items"] == []
    assert tracking.client.get("/v1/investigations").json()["items"] == []


def test_an_oversized_or_odd_case_id_is_still_a_404(tracking) -> None:
    for case_id in ["x" * 200, "不存在", "1"]:
        r = tracking.client.get(f"/v1/cases/{case_id}")
        assert r.status_code == 404, (case_id, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
