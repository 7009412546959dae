"""The admin API for API keys, on SQLite and Postgres: an operator issues a
department liaison's key, the liaison uses it, the listing never shows a
secret, a revoked key is 401; only the service's admin may issue, and only the
service's own scopes and `read`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.test_bad_input_sweep import row_counts

LIAISON = {"name": "淄博市教育局评议联络员", "scopes": ["tracking:write"], "department": "淄博市教育局"}


def _open_case(tracking, department: str) -> dict:
    r = tracking.client.post("/v1/cases", json={"department": department, "evaluation_year": 2021, "batch": 1,
                                                "selection_date": "2021-02-26", "review_meeting_date": "2021-08-26"})
    assert r.status_code == 201, r.text
    return r.json()


def _commitment(n: int) -> dict:
    return {"problem": f"群众反映办事材料重复提交{n}", "measure": "推行一窗受理、一次办好", "responsible_unit": "淄博市教育局办公室",
            "responsible_person": "王建国", "deadline": "2021-06-30"}


def _audit_entries(h, action: str) -> list:
    model = h.models.SECURITY_MODELS.audit_entry
    with h.db.session() as session:
        return list(session.scalars(select(model).where(model.action == action).order_by(model.id)))


def test_a_liaison_key_is_issued_used_listed_without_its_secret_and_revoked(tracking):
    case = _open_case(tracking, "淄博市教育局")
    other = _open_case(tracking, "淄博市民政局")

    issued = tracking.client.post("/v1/admin/api-keys", json=LIAISON, headers={"Idempotency-Key": "liaison-1"})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    secret = body["key"]
    assert secret.startswith(f"pyk_{body['id']}_")
    assert (body["name"], body["scopes"], body["department"], body["revoked_at"]) == (
        LIAISON["name"], ["tracking:write"], "淄博市教育局", None)
    liaison = {"Authorization": f"Bearer {secret}"}

    # The liaison records a commitment on its own case; another department's is refused.
    own = tracking.anonymous.post(f"/v1/cases/{case['id']}/commitments", json=_commitment(1), headers=liaison)
    assert own.status_code == 201, own.text
    foreign = tracking.anonymous.post(f"/v1/cases/{other['id']}/commitments", json=_commitment(2), headers=liaison)
    assert foreign.status_code == 403 and foreign.json()["type"] == "urn:pingyi:problem:other-department"

    # A retry with the same Idempotency-Key: the same key, not a second one, and the secret not again.
    replay = tracking.client.post("/v1/admin/api-keys", json=LIAISON, headers={"Idempotency-Key": "liaison-1"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == body["id"] and replay.json()["key"] is None

    # The listing: the key with its use recorded, never a secret.
    listing = tracking.client.get("/v1/admin/api-keys", params={"limit": 100})
    assert listing.status_code == 200
    (listed,) = [k for k in listing.json()["items"] if k["name"] == LIAISON["name"]]
    assert listed["id"] == body["id"] and listed["last_used_at"] is not None and "key" not in listed
    assert secret not in listing.text and "pyk_" not in listing.text
    with tracking.db.session() as session:  # nor in the stored idempotent answer or the audit chain
        idem = tracking.models.SECURITY_MODELS.idempotency_key
        assert all(secret not in row.response_body for row in session.scalars(select(idem)))
    (entry,) = _audit_entries(tracking, "POST /v1/admin/api-keys")
    assert json.loads(entry.detail)["api_key"] == {"id": body["id"], "name": LIAISON["name"], "scopes": ["tracking:write"],
                                                    "department": "淄博市教育局"}
    assert secret not in entry.detail

    # Revoked by name: the next request with it is 401; the listing shows when.
    revoked = tracking.client.delete(f"/v1/admin/api-keys/{LIAISON['name']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = tracking.anonymous.post(f"/v1/cases/{case['id']}/commitments", json=_commitment(3), headers=liaison)
    assert refused.status_code == 401 and refused.json()["type"] == "urn:pingyi:problem:unauthenticated"
    assert [k["id"] for k in tracking.client.get("/v1/admin/api-keys", params={"revoked": "true"}).json()["items"]] == [body["id"]]
    assert _audit_entries(tracking, "DELETE /v1/admin/api-keys/{key}")
    # Again, by id: the same record; an unknown key is 404.
    assert tracking.client.delete(f"/v1/admin/api-keys/{body['id']}").json()["revoked_at"] == revoked.json()["revoked_at"]
    assert tracking.client.delete("/v1/admin/api-keys/nobody").status_code == 404
    # Its name stays taken.
    taken = tracking.client.post("/v1/admin/api-keys", json=LIAISON)
    assert taken.status_code == 409 and taken.json()["type"] == "urn:pingyi:problem:key-name-taken"


def test_the_listing_pages_in_issue_order(voting):
    names = [f"会议系统接口{n}" for n in range(5)]
    for name in names:
        assert voting.client.post("/v1/admin/api-keys", json={"name": name, "scopes": ["voting:run"]}).status_code == 201
    seen, cursor = [], None
    while True:
        page = voting.client.get("/v1/admin/api-keys", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        assert len(page["items"]) <= 2
        seen += [k["name"] for k in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert [n for n in seen if n in names] == names


@pytest.mark.parametrize("scopes", [["voting:run"], ["tracking:write"], ["read"], ["tracking:read"]])
def test_only_the_services_admin_may_issue_list_or_revoke(tracking, scopes):
    caller = tracking.api_key(*scopes, department="淄博市教育局")
    before = row_counts(tracking)
    for method, path, body in [("POST", "/v1/admin/api-keys", LIAISON), ("GET", "/v1/admin/api-keys", None),
                               ("DELETE", "/v1/admin/api-keys/tracking-operator", None)]:
        r = tracking.anonymous.request(method, path, json=body, headers=caller)
        assert r.status_code == 403, (method, r.text)
        assert r.json() == {**r.json(), "type": "urn:pingyi:problem:missing-scope", "required_scope": "tracking:admin"}
    assert tracking.anonymous.post("/v1/admin/api-keys", json=LIAISON).status_code == 401
    assert row_counts(tracking) == before


@pytest.mark.parametrize(("scopes", "refused"), [
    (["voting:admin"], "voting:admin"),                     # another service's admin
    (["tracking:read", "scoring:import"], "scoring:import"),  # one bad among good
])
def test_a_scope_outside_the_service_is_refused_naming_it_and_nothing_is_written(tracking, scopes, refused):
    model = tracking.models.SECURITY_MODELS.api_key
    with tracking.db.session() as session:
        keys_before = session.scalar(select(func.count()).select_from(model))
    before = row_counts(tracking)
    r = tracking.client.post("/v1/admin/api-keys", json={"name": "越权密钥", "scopes": scopes}, headers={"Idempotency-Key": "k"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "urn:pingyi:problem:scope-not-grantable" and problem["scope"] == refused
    assert refused in problem["detail"] and "tracking:write" in problem["grantable_scopes"] and "read" in problem["grantable_scopes"]
    with tracking.db.session() as session:
        assert session.scalar(select(func.count()).select_from(model)) == keys_before
    assert row_counts(tracking) == before  # no key, no idempotency record, no audit entry


def test_scopes_a_service_grants(scoring, voting):
    # Each service grants its own admin (an operator may issue another operator's key) and `read`.
    assert scoring.client.post("/v1/admin/api-keys", json={"name": "评议办公室", "scopes": ["scoring:admin", "read"]}).status_code == 201
    unknown = voting.client.post("/v1/admin/api-keys", json={"name": "未知", "scopes": ["voting:everything"]})
    assert unknown.status_code == 422 and unknown.json()["type"] == "urn:pingyi:problem:validation-error"
    assert voting.client.post("/v1/admin/api-keys", json={"name": "空", "scopes": []}).status_code == 422


def test_a_department_scope_needs_its_department(tracking):
    before = row_counts(tracking)
    r = tracking.client.post("/v1/admin/api-keys", json={"name": "无部门联络员", "scopes": ["tracking:write"]})
    assert r.status_code == 422 and r.json()["type"] == "urn:pingyi:problem:department-required"
    assert row_counts(tracking) == before
