"""Year plans, sources from the API and from nomination polls, the composite
ranking and slate (score.computed), sensitivity, and plan-aware satisfaction
grading, on SQLite and Postgres."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.scoring.domain.satisfaction import SatisfactionRule
from services.scoring.handlers import ballot_closed_handler
from shared.messaging.events import BallotClosed, BallotSubject, Envelope, ScoreComputed, Tally, Topic
from shared.messaging.inbox import HandleOutcome, handle_once

EDU, CIV, PLAN, HOUSE = "淄博市教育局", "淄博市民政局", "淄博市自然资源和规划局", "淄博市住房和城乡建设局"
HEALTH, MARKET = "淄博市卫生健康委", "淄博市市场监管局"
YEAR = 2022


def create_plan(h, **overrides):
    body = {
        "evaluation_year": YEAR,
        "departments": [EDU, CIV, PLAN, HOUSE],
        "batches": [{"batch": 1, "selection_month": 2, "seats": 2, "review_month": 8}],
        **overrides,
    }
    return h.client.post("/v1/year-plans", json=body)


def poll_closed(plan_id: str | None, constituency: str, counts: dict[str, int], *, kind="nomination_poll", year=YEAR, ballot_id=None) -> Envelope:
    return BallotClosed(
        ballot_id=ballot_id or str(uuid.uuid4()),
        ballot_kind=kind,
        meeting_id=str(uuid.uuid4()),
        meeting_number="第二次会议",
        meeting_date=dt.date(YEAR, 2, 20),
        tally=Tally(counts=counts, votes_cast=sum(counts.values()), present=0, members_total=0),
        closed_at=dt.datetime(YEAR, 2, 20, 3, tzinfo=dt.UTC),
        evaluation_year=year,
        plan_id=plan_id,
        batch=1,
        constituency=constituency,
    ).envelope(producer="voting", key="ballot")


def deliver(h, envelope: Envelope, rule: SatisfactionRule | None = None) -> str:
    handler = ballot_closed_handler(rule or SatisfactionRule())
    return handle_once(h.db, h.models.InboxMessage, handler, Envelope.from_bytes(envelope.to_bytes()))


def computed(h) -> list[ScoreComputed]:
    return [ScoreComputed.model_validate(Envelope.model_validate_json(r.body).payload) for r in h.outbox(Topic.SCORE_COMPUTED.value)]


# --- year plans --------------------------------------------------------------


def test_a_plan_takes_the_defaults(scoring):
    r = scoring.client.post("/v1/year-plans", json={"evaluation_year": YEAR, "departments": [EDU, CIV]})
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["weights"] == {"net_complaints": 35, "npc_deputies": 20, "working_committees": 20, "districts_and_enterprises": 15, "public": 10}
    assert [(b["batch"], b["selection_month"], b["seats"], b["review_month"]) for b in plan["batches"]] == [(1, 2, 6, 8), (2, 4, 6, 10)]
    assert (plan["surplus_min_percent"], plan["surplus_max_percent"]) == (20, 50)
    assert (plan["satisfaction_denominator"], plan["satisfaction_grades"]) == ("all_members", 3)
    assert plan["title"] == "2022年度专项工作评议方案"
    assert scoring.client.get(f"/v1/year-plans/{plan['id']}").json() == plan
    assert scoring.client.get("/v1/year-plans").json()["items"] == [plan]


def test_weights_not_summing_to_100_are_refused(scoring):
    weights = {"net_complaints": 40, "npc_deputies": 20, "working_committees": 20, "districts_and_enterprises": 15, "public": 10}
    r = create_plan(scoring, weights=weights)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "urn:pingyi:problem:weights-not-100"
    assert r.json()["weights_sum"] == 105
    assert scoring.client.get("/v1/year-plans").json()["items"] == []


def test_a_plan_without_departments_is_refused(scoring):
    r = create_plan(scoring, departments=[])
    assert r.status_code == 422
    assert r.json()["type"] == "urn:pingyi:problem:plan-without-departments"
    assert scoring.client.get("/v1/year-plans").json()["items"] == []


def test_one_plan_per_year_and_unknown_fields_refused(scoring):
    assert create_plan(scoring).status_code == 201
    r = create_plan(scoring)
    assert r.status_code == 409 and r.json()["type"] == "urn:pingyi:problem:plan-exists"
    r = create_plan(scoring, evaluation_year=YEAR + 1, weightz={})
    assert r.status_code == 422 and r.json()["type"] == "urn:pingyi:problem:validation-error"


# --- the worked example: five sources, ranking, slate, score.computed ---------
# Hand-computed (min-max, 35/20/20/15/10, 2 seats → slate of 3):
#   net complaints 100/50/0/25 · deputies 10/30/20/10 · committees 5/5/15/10
#   districts 0/8/4/2 · public 300/100/200/500 (教育局/民政局/规划局/住建局)
#   → 民政局 52.5, 教育局 40, 规划局 40, 住建局 32.5; slate 民政局, 教育局, 规划局


def test_worked_example_from_api_and_polls(scoring):
    plan = create_plan(scoring).json()
    pid = plan["id"]
    r = scoring.client.put(
        f"/v1/year-plans/{pid}/batches/1/sources/net_complaints",
        json={"figures": {EDU: 100, CIV: 50, PLAN: 0, HOUSE: 25}, "submitted_by": "12345平台"},
    )
    assert r.status_code == 200, r.text
    assert deliver(scoring, poll_closed(pid, "npc_deputies", {EDU: 10, CIV: 30, PLAN: 20, HOUSE: 10})) == HandleOutcome.HANDLED
    deliver(scoring, poll_closed(pid, "working_committees", {EDU: 5, CIV: 5, PLAN: 15, HOUSE: 10}))
    # A name off the candidate list is not guessed: left out and listed in the inputs.
    deliver(scoring, poll_closed(pid, "districts_and_enterprises", {CIV: 8, PLAN: 4, HOUSE: 2, "淄博市某某局": 7}))
    last = poll_closed(pid, "public", {EDU: 300, CIV: 100, PLAN: 200, HOUSE: 500}, kind="public_vote")
    deliver(scoring, last)

    r = scoring.client.get(f"/v1/year-plans/{pid}/batches/1/ranking")
    assert r.status_code == 200 and r.headers["etag"]
    result = r.json()
    assert [(d["rank"], d["department"], d["score"], d["on_slate"]) for d in result["ranking"]] == [
        (1, CIV, 52.5, True),
        (2, EDU, 40.0, True),
        (2, PLAN, 40.0, True),
        (4, HOUSE, 32.5, False),
    ]
    assert result["slate"] == [CIV, EDU, PLAN]
    house = result["ranking"][3]["explanation"]
    assert [(e["source"], e["raw"], e["normalised"], e["weight"], e["contribution"]) for e in house] == [
        ("net_complaints", 25, 25, 35, 8.75),
        ("npc_deputies", 10, 0, 20, 0),
        ("working_committees", 10, 50, 20, 10),
        ("districts_and_enterprises", 2, 25, 15, 3.75),
        ("public", 500, 100, 10, 10),
    ]
    assert house[4]["source_label"] == "网上社会投票"
    assert result["inputs"]["unmatched_departments"] == []
    assert result["triggered_by"] == f"ballot:{BallotClosed.from_envelope(last).ballot_id} (public)"
    assert scoring.client.get(f"/v1/year-plans/{pid}/batches/1/ranking", headers={"If-None-Match": r.headers["etag"]}).status_code == 304

    # Every change recomputed and announced; each computation is kept.
    events = computed(scoring)
    assert len(events) == 5
    assert all(e.kind == "composite_ranking" and e.plan_id == pid and e.evaluation_year == YEAR and e.seats == 2 for e in events)
    assert events[-1].slate == [CIV, EDU, PLAN]
    assert events[-1].ranking == result["ranking"]
    # The plan's step after a second 不满意 travels with it, for tracking to apply.
    assert events[-1].escalation_policy == plan["escalation_policy"] == "written_self_examination"
    assert events[-1].review_month == next(b["review_month"] for b in plan["batches"] if b["batch"] == 1)
    kept = scoring.client.get(f"/v1/year-plans/{pid}/batches/1/computations").json()["items"]
    assert len(kept) == 5
    assert [k["inputs"]["unmatched_departments"] for k in kept] == [[], [], [], ["淄博市某某局"], []]
    assert kept[0]["inputs"]["missing_sources"] == ["npc_deputies", "working_committees", "districts_and_enterprises", "public"]


def test_the_same_poll_again_changes_nothing(scoring):
    pid = create_plan(scoring).json()["id"]
    ballot_id = str(uuid.uuid4())
    deliver(scoring, poll_closed(pid, "npc_deputies", {EDU: 3, CIV: 1}, ballot_id=ballot_id))
    # Announced again under a new event id: no second computation.
    assert deliver(scoring, poll_closed(pid, "npc_deputies", {EDU: 3, CIV: 1}, ballot_id=ballot_id)) == HandleOutcome.HANDLED
    assert len(computed(scoring)) == 1
    body = {"figures": {EDU: 1}, "submitted_by": "研究室"}
    assert scoring.client.put(f"/v1/year-plans/{pid}/batches/1/sources/working_committees", json=body).status_code == 200
    assert scoring.client.put(f"/v1/year-plans/{pid}/batches/1/sources/working_committees", json=body).status_code == 204
    assert len(computed(scoring)) == 2


def test_a_poll_for_an_unknown_plan_writes_nothing(scoring):
    with pytest.raises(LookupError):
        deliver(scoring, poll_closed(str(uuid.uuid4()), "npc_deputies", {EDU: 3}))
    assert scoring.outbox() == []
    with scoring.db.session() as session:
        assert session.query(scoring.models.InboxMessage).count() == 0


def test_submissions_are_checked(scoring):
    pid = create_plan(scoring).json()["id"]
    base = f"/v1/year-plans/{pid}/batches/1/sources"
    r = scoring.client.put(f"{base}/public", json={"figures": {"市教育局": 3}, "submitted_by": "x"})
    assert r.status_code == 422 and r.json()["type"] == "urn:pingyi:problem:unknown-departments"
    assert r.json()["departments"] == ["市教育局"]
    r = scoring.client.put(f"{base}/gossip", json={"figures": {EDU: 3}, "submitted_by": "x"})
    assert r.status_code == 422
    r = scoring.client.put(f"/v1/year-plans/{pid}/batches/3/sources/public", json={"figures": {EDU: 3}, "submitted_by": "x"})
    assert r.status_code == 422 and r.json()["type"] == "urn:pingyi:problem:unknown-batch"
    r = scoring.client.put(f"/v1/year-plans/{uuid.uuid4()}/batches/1/sources/public", json={"figures": {EDU: 3}, "submitted_by": "x"})
    assert r.status_code == 404
    assert scoring.client.get(f"/v1/year-plans/{pid}/batches/1/ranking").status_code == 404
    assert scoring.outbox() == []


def test_sensitivity_of_the_latest_ranking(scoring):
    pid = create_plan(scoring, departments=[EDU, CIV, PLAN, HOUSE, HEALTH, MARKET]).json()["id"]
    base = f"/v1/year-plans/{pid}/batches/1/sources"
    # Two seats → slate of 3. Only two sources: complaints favour 教育局…, the public vote 市场监管局.
    scoring.client.put(f"{base}/net_complaints", json={"figures": {EDU: 100, CIV: 80, PLAN: 60, HOUSE: 40, HEALTH: 20, MARKET: 0}, "submitted_by": "x"})
    scoring.client.put(f"{base}/public", json={"figures": {EDU: 0, CIV: 20, PLAN: 40, HOUSE: 60, HEALTH: 80, MARKET: 100}, "submitted_by": "x"})
    r = scoring.client.get(f"/v1/year-plans/{pid}/batches/1/sensitivity")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["slate"] == [EDU, CIV, PLAN]
    public = next(w for w in body["weights"] if w["source"] == "public")
    # Slate changes once public outweighs complaints: public w vs complaints 35(100−w)/90;
    # at w=40 (+30) 规划局 = 0.6·26.9… — the scan says where; +5 keeps the slate.
    assert public["slate_plus_5"] == [EDU, CIV, PLAN]
    assert public["increase_until_change"] is not None and public["increase_until_change"] > 5
    assert public["slate_minus_5"] == [EDU, CIV, PLAN]


# --- satisfaction by the plan's rule --------------------------------------------


def satisfaction_closed(counts, *, present, members_total, plan_id=None, year=YEAR) -> Envelope:
    votes = sum(counts.values())
    return BallotClosed(
        ballot_id=str(uuid.uuid4()),
        ballot_kind="satisfaction",
        meeting_id=str(uuid.uuid4()),
        meeting_number="第八次会议",
        meeting_date=dt.date(year, 8, 27),
        subject=BallotSubject(department=EDU, evaluation_year=year),
        tally=Tally(counts=counts, votes_cast=votes, present=present, members_total=members_total),
        closed_at=dt.datetime(year, 8, 27, 3, tzinfo=dt.UTC),
        plan_id=plan_id,
    ).envelope(producer="voting", key="ballot")


def test_the_plans_rule_grades_and_the_default_applies_without_a_plan(scoring):
    # 20 满意 of 40 valid votes (exactly half: not more) with 50 present of 60 members.
    counts = {"satisfied": 20, "basically_satisfied": 1, "unsatisfied": 19}
    plan = create_plan(scoring, satisfaction_denominator="valid_votes", satisfaction_grades=2).json()
    ballot = satisfaction_closed(counts, present=50, members_total=60, plan_id=plan["id"])
    deliver(scoring, ballot)
    body = scoring.client.get(f"/v1/satisfaction-results/{BallotClosed.from_envelope(ballot).ballot_id}").json()
    assert (body["grade"], body["denominator"], body["denominator_basis"], body["grades_in_rule"]) == ("unsatisfied", 40, "valid_votes", 2)
    # 21 满意 of 40 is more than half under the plan's rule.
    ballot = satisfaction_closed({**counts, "satisfied": 21, "unsatisfied": 18}, present=50, members_total=60, plan_id=plan["id"])
    deliver(scoring, ballot)
    body = scoring.client.get(f"/v1/satisfaction-results/{BallotClosed.from_envelope(ballot).ballot_id}").json()
    assert body["grade"] == "satisfied"
    # A year without a plan: the configured default (all members, three grades) → 不满意 (21+1 of 60).
    ballot = satisfaction_closed({**counts, "satisfied": 21, "unsatisfied": 18}, present=50, members_total=60, year=YEAR + 1)
    deliver(scoring, ballot)
    body = scoring.client.get(f"/v1/satisfaction-results/{BallotClosed.from_envelope(ballot).ballot_id}").json()
    assert (body["grade"], body["denominator_basis"], body["grades_in_rule"]) == ("unsatisfied", "all_members", 3)


def test_the_plan_is_found_by_year_when_the_ballot_names_none(scoring):
    create_plan(scoring, satisfaction_denominator="present")
    ballot = satisfaction_closed({"satisfied": 26, "basically_satisfied": 0, "unsatisfied": 24}, present=50, members_total=60)
    deliver(scoring, ballot)
    body = scoring.client.get(f"/v1/satisfaction-results/{BallotClosed.from_envelope(ballot).ballot_id}").json()
    assert (body["grade"], body["denominator"], body["denominator_basis"]) == ("satisfied", 50, "present")


def test_a_satisfaction_ballot_for_an_unknown_plan_writes_nothing(scoring):
    with pytest.raises(LookupError):
        deliver(scoring, satisfaction_closed({"satisfied": 30}, present=50, members_total=60, plan_id=str(uuid.uuid4())))
    assert scoring.client.get("/v1/satisfaction-results").json()["items"] == []
    assert scoring.outbox() == []


def test_poll_names_go_through_the_alias_table(scoring):
    pid = create_plan(scoring).json()["id"]
    r = scoring.client.post("/v1/hotline/department-aliases", json={"alias": "市教育局", "department": EDU})
    assert r.status_code == 201
    deliver(scoring, poll_closed(pid, "npc_deputies", {"市教育局": 4, CIV: 2, "某局": 1}))
    latest = scoring.client.get(f"/v1/year-plans/{pid}/batches/1/ranking").json()
    assert latest["inputs"]["figures"]["npc_deputies"] == {EDU: 4, CIV: 2}
    assert latest["inputs"]["unmatched_departments"] == ["某局"]
