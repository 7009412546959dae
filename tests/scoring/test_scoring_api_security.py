"""The scoring API as an integrator meets it (issue 6): every route needs a
credential with the right scope, a department's credential acts for its
department only, creating POSTs take an Idempotency-Key, lists are cursor
pages, the polled ranking answers 304, and each credential is rate limited.
SQLite and Postgres."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shared.messaging.events import Topic
from tests.conftest import BACKENDS, ServiceHarness, create_app_for, settings_for
from tests.scoring.test_scoring_composite import CIV, EDU, HOUSE, PLAN, YEAR, create_plan, poll_closed
from tests.scoring.test_scoring_composite import deliver as deliver_poll
from tests.scoring.test_scoring_hotline import csv_text, order
from tests.scoring.test_scoring_satisfaction import BASICALLY, SATISFIED, UNSATISFIED, ballot_closed, deliver

PROBLEM = "urn:pingyi:problem:"
FIGURES = {"figures": {EDU: 100, CIV: 50, PLAN: 0, HOUSE: 25}, "submitted_by": "有关委室"}


def sources(pid: str, source: str = "working_committees") -> str:
    return f"/v1/year-plans/{pid}/batches/1/sources/{source}"


def from_hotline(pid: str) -> str:
    return f"/v1/year-plans/{pid}/batches/1/sources/net_complaints/from-hotline"


def import_orders(h: ServiceHarness, rows, headers=None):
    return h.client.post("/v1/hotline/work-order-imports?format=csv", content=csv_text(rows).encode(),
                         headers={"content-type": "text/csv", **(headers or {})})


def items(h: ServiceHarness, path: str, **params) -> list:
    r = h.client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def computations(h: ServiceHarness, pid: str) -> list:
    return items(h, f"/v1/year-plans/{pid}/batches/1/computations")


def assert_problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == PROBLEM + slug
    return r.json()


# --- authentication ----------------------------------------------------------------


def _v1_routes(app, *, public: bool = False) -> list[tuple[str, str]]:
    """Every operation the service publishes under /v1 (its own and the operators'), or only its public reads."""
    return [(method.upper(), path) for path, operations in app.openapi()["paths"].items()
            if path.startswith("/v1/") and path.startswith("/v1/public/") == public for method in operations]


def test_only_the_published_reads_need_no_credential(scoring):
    routes = _v1_routes(scoring.app, public=True)
    assert sorted(routes) == [("GET", "/v1/public/satisfaction-results"), ("GET", "/v1/public/satisfaction-results/{ballot_id}"),
                              ("GET", "/v1/public/year-plans"), ("GET", "/v1/public/year-plans/{plan_id}"),
                              ("GET", "/v1/public/year-plans/{plan_id}/batches/{batch}/ranking")]
    for _, template in routes:
        path = re.sub(r"\{batch\}", "1", re.sub(r"\{\w+_id\}", str(uuid.uuid4()), template))
        assert scoring.anonymous.get(path).status_code in (200, 404), path


def test_every_v1_route_refuses_a_request_without_a_credential(scoring):
    routes = _v1_routes(scoring.app)
    assert len(routes) >= 16
    for method, template in routes:
        path = re.sub(r"\{batch\}", "1", re.sub(r"\{source\}", "public", re.sub(r"\{\w+_id\}", str(uuid.uuid4()), template)))
        r = scoring.anonymous.request(method, path, json={})
        body = assert_problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer"), (method, template)
        assert "scope" in body["detail"]
        bad = scoring.anonymous.request(method, path, json={}, headers={"Authorization": "Bearer pyk_nothere_x"})
        assert_problem(bad, 401, "unauthenticated")
    # Nothing was written by any of them.
    assert scoring.outbox() == []
    assert items(scoring, "/v1/year-plans") == [] and items(scoring, "/v1/hotline/department-aliases") == []


def test_a_polled_ranking_is_not_answered_without_a_credential(scoring):
    pid = create_plan(scoring).json()["id"]
    scoring.client.put(sources(pid), json=FIGURES)
    url = f"/v1/year-plans/{pid}/batches/1/ranking"
    etag = scoring.client.get(url).headers["etag"]
    # The ETag is current and cached, yet a request without a credential learns nothing.
    assert_problem(scoring.anonymous.get(url, headers={"If-None-Match": etag}), 401, "unauthenticated")


# --- scopes ----------------------------------------------------------------------------


def test_a_missing_scope_is_403_naming_it_and_changes_nothing(scoring):
    pid = create_plan(scoring).json()["id"]
    read, write, importer = (scoring.api_key(s) for s in ("read", "scoring:write", "scoring:import"))
    other_admin, member = scoring.api_key("tracking:admin"), scoring.member_token("m01", str(uuid.uuid4()), clerk=True)
    refused = [
        (read, "POST", "/v1/year-plans", {"evaluation_year": YEAR + 1, "departments": [EDU]}, "scoring:admin"),
        (write, "POST", "/v1/year-plans", {"evaluation_year": YEAR + 1, "departments": [EDU]}, "scoring:admin"),
        (write, "PATCH", f"/v1/year-plans/{pid}", {"title": "改"}, "scoring:admin"),
        (importer, "PUT", sources(pid), FIGURES, "scoring:write"),
        (read, "PUT", sources(pid), FIGURES, "scoring:write"),
        (other_admin, "PUT", sources(pid), FIGURES, "scoring:write"),  # another service's admin
        (member, "PUT", sources(pid), FIGURES, "scoring:write"),  # a clerk's member token
        (read, "POST", from_hotline(pid), None, "scoring:write"),
        (importer, "POST", "/v1/hotline/department-aliases", {"alias": "市教育局", "department": EDU}, "scoring:write"),
    ]
    for headers, method, path, body, scope in refused:
        r = scoring.client.request(method, path, json=body, headers=headers)
        problem = assert_problem(r, 403, "missing-scope")
        assert problem["required_scope"] == scope, (method, path)
        assert scope in problem["detail"]
    r = scoring.client.post("/v1/hotline/work-order-imports?format=csv", content=csv_text([order("GD1")]).encode(),
                            headers={"content-type": "text/csv", **write})
    assert assert_problem(r, 403, "missing-scope")["required_scope"] == "scoring:import"

    assert [p["evaluation_year"] for p in items(scoring, "/v1/year-plans")] == [YEAR]
    assert scoring.client.get(f"/v1/year-plans/{pid}").json()["title"] == "2022年度专项工作评议方案"
    assert computations(scoring, pid) == []
    assert items(scoring, "/v1/hotline/department-aliases") == []
    assert scoring.client.get("/v1/hotline/net-complaints").json()["unmatched"] == []
    assert scoring.outbox() == []


def test_each_scope_does_its_own_work(scoring):
    pid = create_plan(scoring).json()["id"]
    read, write, importer = (scoring.api_key(s) for s in ("read", "scoring:write", "scoring:import"))
    assert import_orders(scoring, [order("GD1", final=CIV)], importer).status_code == 200
    r = scoring.client.post("/v1/hotline/department-aliases", json={"alias": "市民政局", "department": CIV}, headers=write)
    assert r.status_code == 201, r.text
    assert scoring.client.put(sources(pid), json=FIGURES, headers=write).status_code == 200
    assert scoring.client.post(from_hotline(pid), headers=write).status_code == 200
    for path in ("/v1/year-plans", f"/v1/year-plans/{pid}", f"/v1/year-plans/{pid}/batches/1/ranking",
                 f"/v1/year-plans/{pid}/batches/1/computations", f"/v1/year-plans/{pid}/batches/1/sensitivity",
                 "/v1/hotline/department-aliases", "/v1/hotline/unmatched-departments", "/v1/hotline/net-complaints",
                 "/v1/satisfaction-results"):
        assert scoring.client.get(path, headers=read).status_code == 200, path
    # Any credential of this service may read; only the operator reads the audit chain.
    assert scoring.client.get("/v1/satisfaction-results", headers=importer).status_code == 200
    assert scoring.client.get("/v1/admin/audit-log", headers=read).status_code == 403


# --- object-level authorization ----------------------------------------------------------


def test_a_departments_credential_maps_names_to_its_own_department_only(scoring):
    edu = scoring.api_key("scoring:write", department=EDU)
    civ = scoring.api_key("scoring:write", department=CIV)
    r = scoring.client.post("/v1/hotline/department-aliases", json={"alias": "市教育局", "department": EDU}, headers=edu)
    assert r.status_code == 201, r.text
    # Each against the other's department: moving complaints onto another department is refused.
    for headers, alias, department in ((edu, "市民政局", CIV), (civ, "教育局", EDU)):
        r = scoring.client.post("/v1/hotline/department-aliases", json={"alias": alias, "department": department}, headers=headers)
        problem = assert_problem(r, 403, "other-department")
        assert problem["department"] == department and problem["credential_department"] != department
    assert [(a["alias"], a["department"]) for a in items(scoring, "/v1/hotline/department-aliases")] == [("市教育局", EDU)]


def test_a_departments_credential_cannot_set_figures_that_rank_every_candidate(scoring):
    pid = create_plan(scoring).json()["id"]
    for department in (EDU, CIV):
        headers = scoring.api_key("scoring:write", department=department)
        # Even figures about itself alone: they would replace the whole source for every candidate.
        for body in (FIGURES, {"figures": {department: 0}, "submitted_by": department}):
            assert_problem(scoring.client.put(sources(pid), json=body, headers=headers), 403, "other-department")
        assert_problem(scoring.client.post(from_hotline(pid), headers=headers), 403, "other-department")
    assert computations(scoring, pid) == []
    assert scoring.outbox() == []
    # A credential bound to no department submits them.
    assert scoring.client.put(sources(pid), json=FIGURES, headers=scoring.api_key("scoring:write")).status_code == 200


def test_idempotency_keys_belong_to_their_caller(scoring):
    first, second = scoring.api_key("scoring:write"), scoring.api_key("scoring:write")
    key = {"Idempotency-Key": "alias-1"}
    a = scoring.client.post("/v1/hotline/department-aliases", json={"alias": "市教育局", "department": EDU}, headers={**first, **key})
    # The other caller's key of the same name is its own: neither reused (422) nor the first's answer.
    b = scoring.client.post("/v1/hotline/department-aliases", json={"alias": "市民政局", "department": CIV}, headers={**second, **key})
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers
    assert b.json()["alias"] == "市民政局"
    assert sorted(a["alias"] for a in items(scoring, "/v1/hotline/department-aliases")) == sorted(["市教育局", "市民政局"])


# --- idempotency ------------------------------------------------------------------------


def audit_actions(h: ServiceHarness) -> list[str]:
    return [e["action"] for e in items(h, "/v1/admin/audit-log", limit=100)]


def test_a_plan_created_again_with_the_same_key_is_the_stored_response(scoring):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"evaluation_year": YEAR, "departments": [EDU, CIV]}
    first = scoring.client.post("/v1/year-plans", json=body, headers=key)
    assert first.status_code == 201, first.text
    again = scoring.client.post("/v1/year-plans", json=body, headers=key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert [p["id"] for p in items(scoring, "/v1/year-plans")] == [first.json()["id"]]
    # The same key with another body is refused and creates nothing.
    other = scoring.client.post("/v1/year-plans", json={**body, "evaluation_year": YEAR + 1}, headers=key)
    assert assert_problem(other, 422, "idempotency-key-reused")["idempotency_key"] == key["Idempotency-Key"]
    assert len(items(scoring, "/v1/year-plans")) == 1
    # Written and audited once; without a key the year's second plan is still refused.
    assert audit_actions(scoring).count("POST /v1/year-plans") == 1
    assert_problem(scoring.client.post("/v1/year-plans", json=body), 409, "plan-exists")


def test_a_refused_plan_leaves_no_key_behind(scoring):
    key = {"Idempotency-Key": "plan-2022"}
    wrong = {"evaluation_year": YEAR, "departments": [EDU], "weights": {"net_complaints": 50}}
    assert_problem(scoring.client.post("/v1/year-plans", json=wrong, headers=key), 422, "weights-not-100")
    # The corrected request may reuse the key: the refusal stored nothing under it.
    r = scoring.client.post("/v1/year-plans", json={**wrong, "weights": {"net_complaints": 100}}, headers=key)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


def test_an_alias_created_again_with_the_same_key_is_the_stored_response(scoring):
    key = {"Idempotency-Key": "alias-edu"}
    body = {"alias": "市教育局", "department": EDU}
    first = scoring.client.post("/v1/hotline/department-aliases", json=body, headers=key)
    again = scoring.client.post("/v1/hotline/department-aliases", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = scoring.client.post("/v1/hotline/department-aliases", json={"alias": "市民政局", "department": CIV}, headers=key)
    assert_problem(other, 422, "idempotency-key-reused")
    assert [a["alias"] for a in items(scoring, "/v1/hotline/department-aliases")] == ["市教育局"]
    assert audit_actions(scoring).count("POST /v1/hotline/department-aliases") == 1


# --- pagination -------------------------------------------------------------------------


def all_pages(h: ServiceHarness, path: str, limit: int, **params) -> list[list]:
    pages, cursor = [], None
    while True:
        r = h.client.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        pages.append(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return pages


def test_satisfaction_results_come_in_pages(scoring):
    import datetime as dt

    for counts, day in ((SATISFIED, 26), (BASICALLY, 27), (UNSATISFIED, 28)):
        deliver(scoring, ballot_closed(counts, department=f"部门{day}", meeting_date=dt.date(2021, 8, day)))
    pages = all_pages(scoring, "/v1/satisfaction-results", 2)
    assert [[r["department"] for r in page] for page in pages] == [["部门26", "部门27"], ["部门28"]]
    assert [r["grade"] for page in pages for r in page] == ["satisfied", "basically_satisfied", "unsatisfied"]
    assert all_pages(scoring, "/v1/satisfaction-results", 1, department="部门27") == [[pages[0][1]]]
    assert_problem(scoring.client.get("/v1/satisfaction-results", params={"cursor": "not-ours"}), 422, "invalid-cursor")


def test_unmatched_names_come_in_pages_most_orders_first(scoring):
    rows = [order("GD1", final="甲局"), order("GD2", final="甲局"), order("GD3", final="乙局"), order("GD4", final="丙局"),
            order("GD5", final="丙局"), order("GD6", final="丙局"), order("GD7", final="丁局")]
    assert import_orders(scoring, rows).status_code == 200
    pages = all_pages(scoring, "/v1/hotline/unmatched-departments", 2)
    assert pages == [[{"name": "丙局", "orders": 3}, {"name": "甲局", "orders": 2}],
                     [{"name": "丁局", "orders": 1}, {"name": "乙局", "orders": 1}]]
    assert_problem(scoring.client.get("/v1/hotline/unmatched-departments", params={"cursor": "bm90LW91cnM"}), 422, "invalid-cursor")


def test_computations_come_in_pages(scoring):
    pid = create_plan(scoring).json()["id"]
    for i in range(3):
        scoring.client.put(sources(pid), json={**FIGURES, "submitted_by": f"有关委室{i}"})
    pages = all_pages(scoring, f"/v1/year-plans/{pid}/batches/1/computations", 2)
    assert [len(p) for p in pages] == [2, 1]
    assert [c["triggered_by"] for p in pages for c in p] == [f"api:有关委室{i} (working_committees)" for i in range(3)]


# --- conditional GET of the ranking -----------------------------------------------------


def test_the_ranking_answers_304_until_a_recomputation_changes_it(scoring):
    pid = create_plan(scoring).json()["id"]
    url = f"/v1/year-plans/{pid}/batches/1/ranking"
    scoring.client.put(sources(pid), json=FIGURES)
    first = scoring.client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    # Behind a credential: no shared cache keeps it.
    assert first.headers["cache-control"] == "private, max-age=5, must-revalidate"
    polled = scoring.client.get(url, headers={"If-None-Match": etag})
    assert polled.status_code == 304 and polled.content == b""
    assert polled.headers["etag"] == etag
    # Any reader's poll: the same ETag.
    assert scoring.client.get(url, headers={"If-None-Match": etag, **scoring.api_key("read")}).status_code == 304

    # A recomputation is seen at once, not after the cache's second.
    scoring.client.put(sources(pid, "public"), json={"figures": {HOUSE: 500}, "submitted_by": "网上投票"})
    changed = scoring.client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["inputs"]["figures"]["public"] == {HOUSE: 500}
    assert changed.json()["id"] == computations(scoring, pid)[-1]["id"]
    # So is one a closed poll's event caused (the consumer's transaction, not a request).
    deliver_poll(scoring, poll_closed(pid, "npc_deputies", {CIV: 9}))
    polled = scoring.client.get(url, headers={"If-None-Match": changed.headers["etag"]})
    assert polled.status_code == 200 and polled.json()["inputs"]["figures"]["npc_deputies"] == {CIV: 9}
    assert len(scoring.outbox(Topic.SCORE_COMPUTED.value)) == 3


# --- rate limits ---------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def limited_scoring(request, rolled_back_db) -> Iterator[ServiceHarness]:
    """The scoring app with three requests a minute per credential."""
    db = rolled_back_db("scoring", request.param)
    app = create_app_for("scoring", settings_for("scoring", db.url, rate_limit_credential="3/minute"), db)
    from importlib import import_module

    with TestClient(app, raise_server_exceptions=False) as client:
        yield ServiceHarness("scoring", request.param, app, client, db, import_module("services.scoring.models"))


def test_each_credential_is_rate_limited(limited_scoring):
    h = limited_scoring
    busy, other = h.api_key("read"), h.api_key("read")
    for remaining in (2, 1, 0):
        r = h.client.get("/v1/satisfaction-results", headers=busy)
        assert r.status_code == 200, r.text
        assert (r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-remaining"]) == ("3", str(remaining))
    r = h.client.get("/v1/satisfaction-results", headers=busy)
    problem = assert_problem(r, 429, "rate-limited")
    assert int(r.headers["retry-after"]) >= 1 and r.headers["x-ratelimit-remaining"] == "0"
    assert problem["limit"] == "credential"
    # A write is counted and refused the same way, and changes nothing.
    writer = h.api_key("scoring:admin")
    for year in (2021, 2022, 2023):
        assert h.client.post("/v1/year-plans", json={"evaluation_year": year, "departments": [EDU]}, headers=writer).status_code == 201
    assert_problem(h.client.post("/v1/year-plans", json={"evaluation_year": 2024, "departments": [EDU]}, headers=writer), 429, "rate-limited")
    # Another credential has its own allowance.
    years = [p["evaluation_year"] for p in h.client.get("/v1/year-plans", headers=other).json()["items"]]
    assert years == [2021, 2022, 2023]
