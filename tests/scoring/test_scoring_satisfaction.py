"""Scoring grades satisfaction ballots as they close (ballot.closed → score.computed,
vote.marked_unsatisfied), on SQLite and Postgres."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.scoring.domain.satisfaction import SatisfactionRule
from services.scoring.handlers import ballot_closed_handler
from shared.messaging.events import (
    BallotClosed,
    BallotSubject,
    Envelope,
    ScoreComputed,
    Tally,
    Topic,
    VoteMarkedUnsatisfied,
)
from shared.messaging.inbox import HandleOutcome, handle_once

DEPT = "淄博市生态环境局"
YEAR = 2021
MEETING_DATE = dt.date(2021, 8, 27)

SATISFIED = {"satisfied": 40, "basically_satisfied": 10, "unsatisfied": 5}
BASICALLY = {"satisfied": 20, "basically_satisfied": 20, "unsatisfied": 15}
UNSATISFIED = {"satisfied": 10, "basically_satisfied": 15, "unsatisfied": 30}


def ballot_closed(
    counts: dict[str, int],
    *,
    department: str = DEPT,
    year: int = YEAR,
    vote_round: int = 1,
    kind: str = "satisfaction",
    meeting_date: dt.date = MEETING_DATE,
    members_total: int = 60,
    present: int | None = None,
    with_subject: bool = True,
) -> Envelope:
    votes = sum(counts.values())
    return BallotClosed(
        ballot_id=str(uuid.uuid4()),
        ballot_kind=kind,
        meeting_id=str(uuid.uuid4()),
        meeting_number="第四十八次会议",
        meeting_date=meeting_date,
        subject=BallotSubject(department=department, evaluation_year=year, vote_round=vote_round) if with_subject else None,
        tally=Tally(
            counts=counts,
            invalid=1,
            votes_cast=votes + 1,
            present=present if present is not None else votes + 1,
            members_total=members_total,
        ),
        closed_at=dt.datetime.combine(meeting_date, dt.time(3, 0), tzinfo=dt.UTC),
    ).envelope(producer="voting", key="ballot")


def deliver(h, envelope: Envelope, rule: SatisfactionRule | None = None) -> str:
    handler = ballot_closed_handler(rule or SatisfactionRule())
    # Through bytes, as the consumer sees it.
    return handle_once(h.db, h.models.InboxMessage, handler, Envelope.from_bytes(envelope.to_bytes()))


def events(h, topic: Topic) -> list[Envelope]:
    rows = h.outbox(topic.value)
    for row in rows:
        assert row.sent_at is None
    envelopes = [Envelope.model_validate_json(row.body) for row in rows]
    for row, env in zip(rows, envelopes):
        assert row.event_id == str(env.event_id)
        assert row.key == env.key
        assert env.type == topic.value
        assert env.producer == "scoring"
    return envelopes


def payload(ballot: Envelope) -> BallotClosed:
    return BallotClosed.from_envelope(ballot)


# --- grading -----------------------------------------------------------------


def test_a_satisfied_ballot_is_graded_and_announced(scoring) -> None:
    ballot = ballot_closed(SATISFIED)
    closed = payload(ballot)
    assert deliver(scoring, ballot) == HandleOutcome.HANDLED

    r = scoring.client.get(f"/v1/satisfaction-results/{closed.ballot_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ballot_id"] == closed.ballot_id
    assert body["department"] == DEPT
    assert body["evaluation_year"] == YEAR
    assert body["vote_round"] == 1
    assert body["meeting_id"] == closed.meeting_id
    assert body["meeting_number"] == "第四十八次会议"
    assert body["meeting_date"] == "2021-08-27"
    assert body["grade"] == "satisfied"
    assert body["grade_label"] == "满意"
    assert body["counts"] == SATISFIED
    assert body["invalid"] == 1
    assert body["votes_cast"] == 56
    assert body["present"] == 56
    assert body["members_total"] == 60
    assert body["denominator"] == 60
    assert body["denominator_basis"] == "all_members"
    assert body["grades_in_rule"] == 3
    assert body["unsatisfied_round"] is None
    assert dt.datetime.fromisoformat(body["computed_at"]).utcoffset() == dt.timedelta(0)

    [computed] = events(scoring, Topic.SCORE_COMPUTED)
    score = ScoreComputed.from_envelope(computed)
    assert computed.key == DEPT
    assert score.kind == "satisfaction"
    assert score.computation_id == body["id"]
    assert score.satisfaction.model_dump() == {
        "ballot_id": closed.ballot_id,
        "department": DEPT,
        "evaluation_year": YEAR,
        "vote_round": 1,
        "meeting_id": closed.meeting_id,
        "meeting_date": MEETING_DATE,
        "grade": "satisfied",
        "grade_label": "满意",
        "counts": SATISFIED,
        "denominator": 60,
        "denominator_basis": "all_members",
    }
    # 满意: nothing for tracking to follow up.
    assert events(scoring, Topic.VOTE_MARKED_UNSATISFIED) == []


def test_a_basically_satisfied_ballot_emits_no_unsatisfied_event(scoring) -> None:
    ballot = ballot_closed(BASICALLY)
    deliver(scoring, ballot)
    body = scoring.client.get(f"/v1/satisfaction-results/{payload(ballot).ballot_id}").json()
    assert (body["grade"], body["grade_label"]) == ("basically_satisfied", "基本满意")
    assert len(events(scoring, Topic.SCORE_COMPUTED)) == 1
    assert events(scoring, Topic.VOTE_MARKED_UNSATISFIED) == []


def test_an_unsatisfied_ballot_marks_the_vote_unsatisfied_round_one(scoring) -> None:
    ballot = ballot_closed(UNSATISFIED)
    closed = payload(ballot)
    deliver(scoring, ballot)

    body = scoring.client.get(f"/v1/satisfaction-results/{closed.ballot_id}").json()
    assert (body["grade"], body["grade_label"]) == ("unsatisfied", "不满意")
    assert body["unsatisfied_round"] == 1

    [computed] = events(scoring, Topic.SCORE_COMPUTED)
    assert ScoreComputed.from_envelope(computed).satisfaction.grade == "unsatisfied"
    [marked] = events(scoring, Topic.VOTE_MARKED_UNSATISFIED)
    assert marked.key == DEPT
    assert VoteMarkedUnsatisfied.from_envelope(marked) == VoteMarkedUnsatisfied(
        department=DEPT,
        evaluation_year=YEAR,
        unsatisfied_round=1,
        vote_round=1,
        ballot_id=closed.ballot_id,
        meeting_id=closed.meeting_id,
        meeting_date=MEETING_DATE,
    )


def test_a_second_unsatisfied_vote_in_the_same_year_is_round_two(scoring) -> None:
    first = ballot_closed(UNSATISFIED)
    second = ballot_closed(UNSATISFIED, vote_round=2, meeting_date=dt.date(2021, 10, 28))
    deliver(scoring, first)
    deliver(scoring, second)

    rounds = [VoteMarkedUnsatisfied.from_envelope(e) for e in events(scoring, Topic.VOTE_MARKED_UNSATISFIED)]
    assert [(r.unsatisfied_round, r.vote_round, r.ballot_id) for r in rounds] == [
        (1, 1, payload(first).ballot_id),
        (2, 2, payload(second).ballot_id),
    ]
    assert scoring.client.get(f"/v1/satisfaction-results/{payload(second).ballot_id}").json()["unsatisfied_round"] == 2
    assert len(events(scoring, Topic.SCORE_COMPUTED)) == 2


def test_unsatisfied_rounds_are_counted_per_department_and_year(scoring) -> None:
    deliver(scoring, ballot_closed(UNSATISFIED))
    deliver(scoring, ballot_closed(UNSATISFIED, department="淄博市住房和城乡建设局"))
    deliver(scoring, ballot_closed(UNSATISFIED, year=2022, meeting_date=dt.date(2022, 8, 26)))
    # A 满意 in between does not count as an unsatisfied round.
    deliver(scoring, ballot_closed(SATISFIED, vote_round=2))
    rounds = [VoteMarkedUnsatisfied.from_envelope(e) for e in events(scoring, Topic.VOTE_MARKED_UNSATISFIED)]
    assert [(r.department, r.evaluation_year, r.unsatisfied_round) for r in rounds] == [
        (DEPT, 2021, 1),
        ("淄博市住房和城乡建设局", 2021, 1),
        (DEPT, 2022, 1),
    ]


def test_the_services_rule_setting_decides_the_denominator(scoring) -> None:
    # 60 members, 40 present: 21 满意 is more than half of those present, not of all members.
    counts = {"satisfied": 21, "basically_satisfied": 5, "unsatisfied": 13}
    by_all = ballot_closed(counts, present=40)
    by_present = ballot_closed(counts, present=40, department="淄博市交通运输局")
    deliver(scoring, by_all)
    deliver(scoring, by_present, SatisfactionRule(denominator="present"))

    a = scoring.client.get(f"/v1/satisfaction-results/{payload(by_all).ballot_id}").json()
    p = scoring.client.get(f"/v1/satisfaction-results/{payload(by_present).ballot_id}").json()
    assert (a["grade"], a["denominator"], a["denominator_basis"]) == ("unsatisfied", 60, "all_members")
    assert (p["grade"], p["denominator"], p["denominator_basis"]) == ("satisfied", 40, "present")


def test_a_two_grade_rule_is_recorded_on_the_result(scoring) -> None:
    ballot = ballot_closed(BASICALLY)
    deliver(scoring, ballot, SatisfactionRule(grades=2))
    body = scoring.client.get(f"/v1/satisfaction-results/{payload(ballot).ballot_id}").json()
    assert (body["grade"], body["grades_in_rule"], body["unsatisfied_round"]) == ("unsatisfied", 2, 1)
    assert len(events(scoring, Topic.VOTE_MARKED_UNSATISFIED)) == 1


def test_the_apps_own_ballot_closed_handler_grades(scoring) -> None:
    handler = scoring.app.state.runtime.handlers[Topic.BALLOT_CLOSED.value]
    ballot = ballot_closed(UNSATISFIED)
    assert handle_once(scoring.db, scoring.models.InboxMessage, handler, ballot) == HandleOutcome.HANDLED
    assert scoring.client.get(f"/v1/satisfaction-results/{payload(ballot).ballot_id}").json()["grade"] == "unsatisfied"
    assert len(events(scoring, Topic.VOTE_MARKED_UNSATISFIED)) == 1


# --- what is not graded ------------------------------------------------------


# Nomination polls and the public vote now feed the composite (tests/scoring/test_scoring_composite.py).
@pytest.mark.parametrize("kind", ["resolution", "competitive_selection"])
def test_other_ballot_kinds_are_ignored(scoring, kind: str) -> None:
    ballot = ballot_closed({"yes": 50, "no": 5}, kind=kind)
    assert deliver(scoring, ballot) == HandleOutcome.HANDLED  # consumed, recorded in the inbox…
    # …but nothing graded and nothing announced.
    assert scoring.client.get(f"/v1/satisfaction-results/{payload(ballot).ballot_id}").status_code == 404
    assert scoring.client.get("/v1/satisfaction-results").json()["items"] == []
    assert scoring.outbox() == []
    with scoring.db.session() as session:
        assert session.get(scoring.models.InboxMessage, str(ballot.event_id)) is not None


def test_a_satisfaction_ballot_without_subject_is_ignored(scoring) -> None:
    ballot = ballot_closed(SATISFIED, with_subject=False)
    deliver(scoring, ballot)
    assert scoring.client.get("/v1/satisfaction-results").json()["items"] == []
    assert scoring.outbox() == []


# --- at-least-once delivery --------------------------------------------------


def test_the_same_envelope_twice_has_one_effect(scoring) -> None:
    ballot = ballot_closed(UNSATISFIED)
    assert deliver(scoring, ballot) == HandleOutcome.HANDLED
    assert deliver(scoring, ballot) == HandleOutcome.DUPLICATE

    results = scoring.client.get("/v1/satisfaction-results").json()["items"]
    assert [r["ballot_id"] for r in results] == [payload(ballot).ballot_id]
    assert results[0]["unsatisfied_round"] == 1
    assert len(events(scoring, Topic.SCORE_COMPUTED)) == 1
    assert len(events(scoring, Topic.VOTE_MARKED_UNSATISFIED)) == 1
    with scoring.db.session() as session:
        from sqlalchemy import func, select

        inbox = scoring.models.InboxMessage
        assert session.scalar(select(func.count()).select_from(inbox)) == 1
        row = session.get(inbox, str(ballot.event_id))
        assert (row.topic, row.producer) == ("ballot.closed", "voting")


def test_the_same_close_announced_again_under_a_new_event_id_is_graded_once(scoring) -> None:
    ballot = ballot_closed(UNSATISFIED)
    republished = Envelope(**{**ballot.model_dump(), "event_id": uuid.uuid4()})
    assert deliver(scoring, ballot) == HandleOutcome.HANDLED
    assert deliver(scoring, republished) == HandleOutcome.HANDLED

    assert len(scoring.client.get("/v1/satisfaction-results").json()["items"]) == 1
    assert len(events(scoring, Topic.SCORE_COMPUTED)) == 1
    assert [e.payload["unsatisfied_round"] for e in events(scoring, Topic.VOTE_MARKED_UNSATISFIED)] == [1]


def test_a_failing_handler_leaves_no_trace(scoring) -> None:
    ballot = ballot_closed(UNSATISFIED)

    def broken(session, envelope):
        ballot_closed_handler(SatisfactionRule())(session, envelope)
        raise RuntimeError("crash after grading, before commit")

    with pytest.raises(RuntimeError):
        handle_once(scoring.db, scoring.models.InboxMessage, broken, ballot)
    assert scoring.client.get("/v1/satisfaction-results").json()["items"] == []
    assert scoring.outbox() == []
    # The redelivery is then handled normally.
    assert deliver(scoring, ballot) == HandleOutcome.HANDLED
    assert len(scoring.client.get("/v1/satisfaction-results").json()["items"]) == 1


# --- reading -----------------------------------------------------------------


def test_list_filters_by_department_and_year(scoring) -> None:
    other = "淄博市住房和城乡建设局"
    deliver(scoring, ballot_closed(SATISFIED, meeting_date=dt.date(2021, 8, 27)))
    deliver(scoring, ballot_closed(UNSATISFIED, department=other, meeting_date=dt.date(2021, 10, 28)))
    deliver(scoring, ballot_closed(BASICALLY, year=2022, meeting_date=dt.date(2022, 8, 26)))

    def listed(**params) -> list[tuple[str, int]]:
        r = scoring.client.get("/v1/satisfaction-results", params=params)
        assert r.status_code == 200, r.text
        return [(x["department"], x["evaluation_year"]) for x in r.json()["items"]]

    assert listed() == [(DEPT, 2021), (other, 2021), (DEPT, 2022)]
    assert listed(department=DEPT) == [(DEPT, 2021), (DEPT, 2022)]
    assert listed(evaluation_year=2021) == [(DEPT, 2021), (other, 2021)]
    assert listed(department=DEPT, evaluation_year=2022) == [(DEPT, 2022)]
    assert listed(department="不存在的部门") == []


def test_list_rejects_an_out_of_range_year_as_problem_json(scoring) -> None:
    r = scoring.client.get("/v1/satisfaction-results", params={"evaluation_year": 1999})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "urn:pingyi:problem:validation-error"


def test_an_unknown_ballot_is_a_404_problem(scoring) -> None:
    ballot_id = str(uuid.uuid4())
    r = scoring.client.get(f"/v1/satisfaction-results/{ballot_id}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == "urn:pingyi:problem:not-found"
    assert body["status"] == 404
    assert ballot_id in body["detail"]
    assert body["instance"] == f"/v1/satisfaction-results/{ballot_id}"


def test_an_oversized_or_odd_ballot_id_is_still_a_404(scoring) -> None:
    for ballot_id in ["x" * 200, "不存在", "1"]:
        r = scoring.client.get(f"/v1/satisfaction-results/{ballot_id}")
        assert r.status_code == 404, (ballot_id, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
