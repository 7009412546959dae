"""Changing a year plan (PATCH): the given fields change, the merged plan is
checked like a new one, a refusal changes nothing, and batches already ranked
are recomputed and announced under the new plan. SQLite and Postgres."""

from __future__ import annotations

import uuid

import pytest

from shared.messaging.events import Envelope, ScoreComputed, Topic
from tests.scoring.test_scoring_composite import CIV, EDU, HOUSE, PLAN, YEAR, create_plan

FIGURES = {"figures": {EDU: 100, CIV: 50, PLAN: 0, HOUSE: 25}, "submitted_by": "12345平台"}


def computed(h) -> list[ScoreComputed]:
    return [ScoreComputed.model_validate(Envelope.model_validate_json(r.body).payload) for r in h.outbox(Topic.SCORE_COMPUTED.value)]


def ranked_plan(h) -> dict:
    plan = create_plan(h).json()
    r = h.client.put(f"/v1/year-plans/{plan['id']}/batches/1/sources/net_complaints", json=FIGURES)
    assert r.status_code == 200, r.text
    return plan


def test_an_update_changes_the_given_fields_and_recomputes_ranked_batches(scoring):
    plan = ranked_plan(scoring)
    pid = plan["id"]
    first = scoring.client.get(f"/v1/year-plans/{pid}/batches/1/ranking").json()
    assert first["slate"] == [EDU, CIV, HOUSE]

    weights = {"net_complaints": 50, "public": 50}
    r = scoring.client.patch(f"/v1/year-plans/{pid}", json={"weights": weights, "escalation_policy": "admonition_talk",
                                                            "departments": [EDU, CIV, PLAN, HOUSE, "淄博市卫生健康委"]})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["weights"] == weights
    assert updated["escalation_policy"] == "admonition_talk"
    assert updated["departments"][-1] == "淄博市卫生健康委"
    # What was not given is kept.
    unchanged = {k: v for k, v in plan.items() if k not in ("weights", "escalation_policy", "departments")}
    assert {k: updated[k] for k in unchanged} == unchanged
    assert scoring.client.get(f"/v1/year-plans/{pid}").json() == updated

    latest = scoring.client.get(f"/v1/year-plans/{pid}/batches/1/ranking").json()
    assert latest["id"] != first["id"]
    assert latest["triggered_by"] == "plan updated by scoring-operator (departments, escalation_policy, weights)"
    assert latest["inputs"]["weights"] == weights
    assert latest["inputs"]["candidates"][-1] == "淄博市卫生健康委"
    assert [e["source"] for e in latest["ranking"][0]["explanation"]] == ["net_complaints", "public"]
    # 教育局 100 → 50 points; 民政局 50 → 25; 住建局 25 → 12.5; the new candidate has no figures yet.
    assert [(d["department"], d["score"]) for d in latest["ranking"]][:3] == [(EDU, 50.0), (CIV, 25.0), (HOUSE, 12.5)]
    # Announced, so voting's slate and tracking's escalation policy follow the plan.
    events = computed(scoring)
    assert len(events) == 2
    assert (events[-1].computation_id, events[-1].escalation_policy) == (latest["id"], "admonition_talk")
    assert len(scoring.client.get(f"/v1/year-plans/{pid}/batches/1/computations").json()["items"]) == 2


def test_a_change_the_ranking_does_not_depend_on_recomputes_nothing(scoring):
    plan = ranked_plan(scoring)
    r = scoring.client.patch(f"/v1/year-plans/{plan['id']}", json={"title": "2022年度专项工作评议方案（修订）",
                                                                    "satisfaction_denominator": "present"})
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["satisfaction_denominator"]) == ("2022年度专项工作评议方案（修订）", "present")
    # The same values again: nothing changes either.
    assert scoring.client.patch(f"/v1/year-plans/{plan['id']}", json={"weights": plan["weights"]}).status_code == 200
    assert len(computed(scoring)) == 1


def test_a_plan_never_ranked_is_changed_without_a_computation(scoring):
    plan = create_plan(scoring).json()
    batches = [{"batch": 1, "selection_month": 2, "seats": 3, "review_month": 8}, {"batch": 2, "selection_month": 4, "seats": 3, "review_month": 10}]
    r = scoring.client.patch(f"/v1/year-plans/{plan['id']}", json={"batches": batches, "normalisation": "rank"})
    assert r.status_code == 200, r.text
    assert [b["seats"] for b in r.json()["batches"]] == [3, 3] and r.json()["normalisation"] == "rank"
    assert scoring.outbox() == []


@pytest.mark.parametrize(("change", "slug"), [
    ({"weights": {"net_complaints": 40, "public": 40}}, "weights-not-100"),
    ({"departments": []}, "plan-without-departments"),
    ({"departments": ["  "]}, "validation-error"),  # a department's name is never blank
    ({"departments": [EDU, EDU]}, "duplicate-departments"),
    ({"surplus_min_percent": 60}, "invalid-surplus"),  # above the plan's maximum of 50
    ({"batches": [{"batch": 1, "selection_month": 2, "seats": 2, "review_month": 8}] * 2}, "duplicate-batches"),
    ({"evaluation_year": YEAR + 1}, "validation-error"),  # the year is the plan's identity
    ({"title": None}, "validation-error"),  # omitted keeps a field; null is not a value
    ({"weights": {"net_complaints": 110, "public": -10}}, "validation-error"),
])
def test_a_refused_update_changes_nothing(scoring, change, slug):
    plan = ranked_plan(scoring)
    r = scoring.client.patch(f"/v1/year-plans/{plan['id']}", json=change)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == f"urn:pingyi:problem:{slug}"
    assert scoring.client.get(f"/v1/year-plans/{plan['id']}").json() == plan
    assert len(computed(scoring)) == 1


def test_an_unknown_plan_is_404(scoring):
    r = scoring.client.patch(f"/v1/year-plans/{uuid.uuid4()}", json={"title": "x"})
    assert r.status_code == 404 and r.json()["type"] == "urn:pingyi:problem:not-found"
