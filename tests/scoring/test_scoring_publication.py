"""What scoring publishes without a credential: the year plan, a batch's
ranking only once its selection vote has closed (the computation in force
then, not a later one), and graded satisfaction votes."""

from __future__ import annotations

import datetime as dt
import uuid

from shared.messaging.events import BallotClosed, Tally, utcnow

from .test_scoring_composite import CIV, EDU, HOUSE, PLAN, YEAR, create_plan, deliver, satisfaction_closed


def selection_closed(plan_id: str, *, parent: str | None = None, batch: int = 1) -> BallotClosed:
    return BallotClosed(
        ballot_id=str(uuid.uuid4()), ballot_kind="competitive_selection", meeting_id=str(uuid.uuid4()),
        meeting_number="第二次会议", meeting_date=dt.date(YEAR, 2, 20),
        tally=Tally(counts={EDU: 5, CIV: 4, PLAN: 1}, votes_cast=5, present=5, members_total=5),
        closed_at=utcnow(), evaluation_year=YEAR, plan_id=plan_id, batch=batch, seats=2, winners=[EDU, CIV],
        round_kind="main" if parent is None else "runoff", parent_ballot_id=parent,
    )


def test_a_ranking_is_public_once_its_selection_vote_is_held(scoring):
    plan = create_plan(scoring).json()
    base = f"/v1/year-plans/{plan['id']}/batches/1/sources"
    figures = {EDU: 100, CIV: 80, PLAN: 60, HOUSE: 40}
    assert scoring.client.put(f"{base}/net_complaints", json={"figures": figures, "submitted_by": "12345"}).status_code == 200
    public = f"/v1/public/year-plans/{plan['id']}/batches/1/ranking"
    refused = scoring.anonymous.get(public)
    assert refused.status_code == 404 and refused.json()["type"].endswith(":ranking-not-published")

    plans = scoring.anonymous.get("/v1/public/year-plans").json()["items"]
    assert [(p["id"], p["evaluation_year"]) for p in plans] == [(plan["id"], YEAR)]
    assert {w["source_label"]: w["weight"] for w in plans[0]["weights"]}["网上社会投票"] == 10

    deliver(scoring, selection_closed(plan["id"]).envelope(producer="voting", key=plan["id"]))
    # A later recomputation does not rewrite what was published.
    scoring.client.put(f"{base}/net_complaints", json={"figures": {**figures, HOUSE: 500}, "submitted_by": "12345"})
    ranking = scoring.anonymous.get(public)
    assert ranking.status_code == 200, ranking.text
    body = ranking.json()
    assert [r["department"] for r in body["ranking"]] == [EDU, CIV, PLAN, HOUSE]
    assert body["slate"] == [EDU, CIV, PLAN] and body["selection_meeting_number"] == "第二次会议"
    top = body["ranking"][0]["explanation"]
    assert {c["source"]: c["contribution"] for c in top}["net_complaints"] == 35
    assert "inputs" not in body and "triggered_by" not in body
    assert ranking.headers["etag"]


def test_a_runoff_round_or_another_batch_publishes_nothing_new(scoring):
    plan = create_plan(scoring).json()
    scoring.client.put(f"/v1/year-plans/{plan['id']}/batches/1/sources/net_complaints",
                       json={"figures": {EDU: 1, CIV: 2, PLAN: 3, HOUSE: 4}, "submitted_by": "x"})
    deliver(scoring, selection_closed(plan["id"], parent=str(uuid.uuid4())).envelope(producer="voting", key=plan["id"]))
    assert scoring.anonymous.get(f"/v1/public/year-plans/{plan['id']}/batches/1/ranking").status_code == 404


def test_a_graded_satisfaction_vote_is_public(scoring):
    ballot = satisfaction_closed({"satisfied": 4, "basically_satisfied": 1, "unsatisfied": 0}, present=5, members_total=7)
    deliver(scoring, ballot)
    ballot_id = BallotClosed.from_envelope(ballot).ballot_id
    resp = scoring.anonymous.get(f"/v1/public/satisfaction-results/{ballot_id}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["grade"], body["grade_label"], body["present"], body["members_total"]) == ("satisfied", "满意", 5, 7)
    assert "source_event_id" not in body
    assert scoring.anonymous.get("/v1/public/satisfaction-results/nope").status_code == 404
    listed = scoring.anonymous.get("/v1/public/satisfaction-results", params={"department": EDU}).json()["items"]
    assert [r["ballot_id"] for r in listed] == [ballot_id]
    assert scoring.anonymous.get("/v1/public/satisfaction-results", params={"department": CIV}).json()["items"] == []
