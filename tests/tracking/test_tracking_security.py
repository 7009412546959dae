"""Issue 6 in tracking: who may call what (scopes), a department's key acting
for its own department only, Idempotency-Key on every creating POST, the
audit chain, rate limits on public reads, ETag/304 on the public case, and
cursor pages. SQLite and Postgres."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.tracking.cases.service import vote_marked_unsatisfied_handler
from shared.messaging.inbox import handle_once
from tests.conftest import create_app_for, settings_for
from tests.tracking.helpers import YEAR, commitment_body, marked_unsatisfied, redelivered

ENV = "淄博市生态环境局"
HOUSING = "淄博市住房和城乡建设局"
PROBLEM = "urn:pingyi:problem:"

# The scope each route needs; a new route must be placed here (or in PUBLIC).
SCOPES = {
    ("GET", "/v1/cases"): "tracking:read",
    ("POST", "/v1/cases"): "tracking:admin",
    ("GET", "/v1/cases/{case_id}"): "tracking:read",
    ("PATCH", "/v1/cases/{case_id}"): "tracking:admin",
    ("POST", "/v1/cases/{case_id}/milestones/{kind}/complete"): "tracking:admin",
    ("POST", "/v1/cases/{case_id}/close"): "tracking:admin",
    ("GET", "/v1/investigations"): "tracking:read",
    ("POST", "/v1/investigations/{investigation_id}/findings"): "tracking:admin",
    ("POST", "/v1/cases/{case_id}/commitments"): "tracking:write",
    ("GET", "/v1/commitments"): "tracking:read",
    ("GET", "/v1/commitments/{commitment_id}"): "tracking:read",
    ("POST", "/v1/commitments/{commitment_id}/progress"): "tracking:write",
    ("POST", "/v1/commitments/{commitment_id}/complete"): "tracking:write",
    ("POST", "/v1/commitments/{commitment_id}/close"): "tracking:admin",
    ("GET", "/v1/attachments/{attachment_id}"): "tracking:read",
    ("POST", "/v1/cases/{case_id}/work-reports"): "tracking:admin",
    ("GET", "/v1/cases/{case_id}/work-reports"): "tracking:read",
    ("POST", "/v1/cases/{case_id}/inquiry-questions"): "tracking:admin",
    ("GET", "/v1/cases/{case_id}/inquiry-questions"): "tracking:read",
    ("POST", "/v1/cases/{case_id}/escalation-steps"): "tracking:admin",
    ("GET", "/v1/cases/{case_id}/escalation-steps"): "tracking:read",
    ("POST", "/v1/cases/{case_id}/interpellation-motions"): "tracking:admin",
    ("GET", "/v1/cases/{case_id}/interpellation-motions"): "tracking:read",
    ("POST", "/v1/interpellation-motions/{motion_id}/answer"): "tracking:write",
    ("POST", "/v1/motions"): "tracking:admin",
    ("GET", "/v1/motions"): "tracking:read",
    ("GET", "/v1/motions/{motion_id}"): "tracking:read",
    ("POST", "/v1/motions/{motion_id}/extension"): "tracking:admin",
    ("POST", "/v1/motions/{motion_id}/reply"): "tracking:write",
    ("POST", "/v1/motions/{motion_id}/feedback"): "tracking:admin",
    ("POST", "/v1/audit-cases"): "tracking:admin",
    ("GET", "/v1/audit-cases"): "tracking:read",
    ("GET", "/v1/audit-cases/{case_id}"): "tracking:read",
    ("POST", "/v1/audit-cases/{case_id}/findings"): "tracking:admin",
    ("POST", "/v1/audit-findings/{finding_id}/rectify"): "tracking:write",
    ("POST", "/v1/audit-cases/{case_id}/report"): "tracking:admin",
    ("POST", "/v1/audit-cases/{case_id}/close"): "tracking:admin",
    ("GET", "/v1/admin/audit-log"): "tracking:admin",
    ("GET", "/v1/admin/audit-log/verification"): "tracking:admin",
    ("POST", "/v1/admin/api-keys"): "tracking:admin",
    ("GET", "/v1/admin/api-keys"): "tracking:admin",
    ("DELETE", "/v1/admin/api-keys/{key}"): "tracking:admin",
    ("POST", "/v1/webhooks"): "tracking:admin",
    ("GET", "/v1/webhooks"): "tracking:admin",
    ("GET", "/v1/webhooks/{webhook_id}"): "tracking:admin",
    ("DELETE", "/v1/webhooks/{webhook_id}"): "tracking:admin",
    ("POST", "/v1/webhooks/{webhook_id}/pause"): "tracking:admin",
    ("POST", "/v1/webhooks/{webhook_id}/resume"): "tracking:admin",
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): "tracking:admin",
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redelivery"): "tracking:admin",
}
PUBLIC = {
    ("GET", "/v1/public/cases"),
    ("GET", "/v1/public/cases/{case_id}"),
    ("GET", "/v1/public/cases/{case_id}/status"),
    ("GET", "/v1/public/cases/{case_id}/timeline"),
    ("GET", "/v1/public/attachments/{attachment_id}"),
    ("GET", "/asyncapi.json"),
    ("GET", "/healthz/live"),
    ("GET", "/healthz/ready"),
    ("GET", "/metrics"),
}
# A credential that lacks the scope (a key of another service lacks even tracking's reads).
LACKING = {"tracking:read": ["scoring:admin"], "tracking:write": ["tracking:read"],
           "tracking:admin": ["tracking:read", "tracking:write"]}


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM + slug
    return response.json()


def concrete(path: str) -> str:
    return path.replace("{kind}", "rectification_plan").replace("{", "").replace("}", "")


def call(client: TestClient, method: str, path: str, headers: dict | None = None):
    return client.request(method, concrete(path), headers=headers, json={} if method in ("POST", "PATCH") else None)


def open_case(h, department: str = ENV, **overrides) -> dict:
    body = {"department": department, "evaluation_year": YEAR, "selection_date": "2021-02-26", "batch": 1,
            "review_meeting_date": "2021-08-27", **overrides}
    return ok(h.client.post("/v1/cases", json=body), 201)


def audit_entries(h) -> int:
    with h.db.session() as session:
        return session.scalar(select(func.count()).select_from(h.models.AuditEntry))


# --- scopes ---------------------------------------------------------------------------


def test_every_route_is_either_public_or_needs_a_named_scope(tracking) -> None:
    operations = {(method.upper(), path) for path, item in tracking.app.openapi()["paths"].items() for method in item}
    assert operations == set(SCOPES) | PUBLIC
    for method, path in SCOPES:
        assert tracking.app.openapi()["paths"][path][method.lower()]["security"], (method, path)


def test_without_a_credential_every_non_public_route_is_401(tracking) -> None:
    anonymous = tracking.anonymous
    for method, path in SCOPES:
        r = call(anonymous, method, path)
        problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer"), (method, path)
    assert audit_entries(tracking) == 0


def test_a_bad_credential_is_401(tracking) -> None:
    for credential in ("pyk_00000000_nonsense", "not-a-token"):
        r = tracking.client.get("/v1/cases", headers={"Authorization": f"Bearer {credential}"})
        problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_credential_without_the_scope_is_403_naming_it(tracking) -> None:
    lacking = {scope: tracking.api_key(*scopes, department=ENV if "tracking:read" in scopes else None)
               for scope, scopes in LACKING.items()}
    for (method, path), scope in SCOPES.items():
        refused = problem(call(tracking.client, method, path, lacking[scope]), 403, "missing-scope")
        assert refused["required_scope"] == scope, (method, path)
    assert audit_entries(tracking) == 0


def test_a_credential_with_the_scope_passes_the_gate(tracking) -> None:
    holding = {"tracking:read": tracking.api_key("read"), "tracking:write": tracking.api_key("tracking:write", department=ENV),
               "tracking:admin": tracking.api_key("tracking:admin")}
    for (method, path), scope in SCOPES.items():
        r = call(tracking.client, method, path, holding[scope])
        # Past authentication and authorisation: what is left is the request itself (no such record, empty body).
        assert r.status_code in (200, 404, 422), (method, path, r.text)


def test_a_department_key_reads_its_case_but_does_not_run_the_committee(tracking) -> None:
    case = open_case(tracking)
    department = tracking.api_key("tracking:write", department=ENV)
    assert ok(tracking.client.get(f"/v1/cases/{case['id']}", headers=department))["id"] == case["id"]
    refused = problem(tracking.client.post(f"/v1/cases/{case['id']}/close", json={"closed_by": "x"}, headers=department),
                      403, "missing-scope")
    assert refused["required_scope"] == "tracking:admin"


def test_a_member_token_is_for_voting_and_neither_reads_nor_acts_here(tracking) -> None:
    case = open_case(tracking)
    member = tracking.member_token("m07", "mtg-44")
    refused = problem(tracking.client.get(f"/v1/cases/{case['id']}", headers=member), 403, "missing-scope")
    assert refused["required_scope"] == "tracking:read"
    refused = problem(tracking.client.post(f"/v1/cases/{case['id']}/commitments", json=commitment_body(), headers=member),
                      403, "missing-scope")
    assert refused["required_scope"] == "tracking:write"


# --- a department's key acts for its own department only -------------------------------------


def department_world(h) -> dict[str, dict]:
    """For each of two departments: a case, a commitment, an interpellation motion, a deputies' motion
    assigned to it and an audit finding on it, all set up by the committee's staff."""
    world = {}
    for department in (ENV, HOUSING):
        case = open_case(h, department)
        commitment = ok(h.client.post(f"/v1/cases/{case['id']}/commitments", json=commitment_body()), 201)
        interpellation = ok(h.client.post(f"/v1/cases/{case['id']}/interpellation-motions", json={
            "subject": "质询案", "sponsors": ["张一", "李二", "王三", "赵四", "孙五"], "filed_on": "2021-11-01"}), 201)
        motion = ok(h.client.post("/v1/motions", json={
            "number": f"议案{department}", "title": "议案", "sponsors": ["张代表"], "assigned_unit": department,
            "assigned_on": "2021-03-01"}), 201)
        audit = ok(h.client.post("/v1/audit-cases", json={
            "audit_year": 2020, "audited_unit": department, "report_title": "审计工作报告", "received_on": "2021-08-26"}), 201)
        finding = ok(h.client.post(f"/v1/audit-cases/{audit['id']}/findings", json={"finding": "资金闲置", "measure": "盘活"}), 201)
        world[department] = {"case": case, "commitment": commitment, "interpellation": interpellation, "motion": motion,
                             "audit": audit, "finding": finding, "key": h.api_key("tracking:write", department=department)}
    return world


def department_actions(objects: dict) -> list[tuple[str, dict, int]]:
    """(path, body, status on success) of everything a department may do to its own records."""
    return [
        (f"/v1/cases/{objects['case']['id']}/commitments", commitment_body(problem="部门自报问题"), 201),
        (f"/v1/commitments/{objects['commitment']['id']}/progress",
         {"reported_on": "2021-04-01", "text": "进展", "percent_complete": 50}, 201),
        (f"/v1/commitments/{objects['commitment']['id']}/complete", {"completed_on": "2021-06-01", "evidence": "验收材料"}, 200),
        (f"/v1/interpellation-motions/{objects['interpellation']['id']}/answer",
         {"answered_by": "局长", "answered_on": "2021-11-20", "answer": "已整改"}, 200),
        (f"/v1/motions/{objects['motion']['id']}/reply", {"replied_on": "2021-05-20", "reply": "已办理", "result_code": "A"}, 200),
        (f"/v1/audit-findings/{objects['finding']['id']}/rectify", {"rectified_on": "2021-11-30", "evidence": "已收回"}, 200),
    ]


def snapshot(h, objects: dict) -> dict:
    """What a department's action would change, as the staff read it."""
    case_id = objects["case"]["id"]
    return {
        "case": ok(h.client.get(f"/v1/cases/{case_id}")),
        "commitments": ok(h.client.get("/v1/commitments", params={"case_id": case_id})),
        "commitment": ok(h.client.get(f"/v1/commitments/{objects['commitment']['id']}")),
        "interpellations": ok(h.client.get(f"/v1/cases/{case_id}/interpellation-motions")),
        "motion": ok(h.client.get(f"/v1/motions/{objects['motion']['id']}")),
        "audit": ok(h.client.get(f"/v1/audit-cases/{objects['audit']['id']}")),
    }


def test_a_department_key_cannot_touch_another_departments_records(tracking) -> None:
    world = department_world(tracking)
    for mine, theirs in ((ENV, HOUSING), (HOUSING, ENV)):
        before, entries = snapshot(tracking, world[theirs]), audit_entries(tracking)
        for path, body, _ in department_actions(world[theirs]):
            refused = problem(tracking.client.post(path, json=body, headers=world[mine]["key"]), 403, "other-department")
            assert (refused["credential_department"], refused["department"]) == (mine, theirs), path
        assert snapshot(tracking, world[theirs]) == before
        assert audit_entries(tracking) == entries


def test_a_department_key_acts_on_its_own_records(tracking) -> None:
    world = department_world(tracking)
    for department in (ENV, HOUSING):
        for path, body, status in department_actions(world[department]):
            ok(tracking.client.post(path, json=body, headers=world[department]["key"]), status)
        after = snapshot(tracking, world[department])
        assert len(after["commitments"]["items"]) == 2
        assert after["commitment"]["status"] == "done" and [p["text"] for p in after["commitment"]["progress"]] == ["进展"]
        assert after["interpellations"]["items"][0]["answer"] == "已整改"
        assert after["motion"]["status"] == "replied"
        assert [f["status"] for f in after["audit"]["findings"]] == ["rectified"]


def test_a_department_write_is_audited_under_its_key(tracking) -> None:
    case = open_case(tracking)
    key = tracking.api_key("tracking:write", department=ENV, name="生态环境局整改联络员")
    ok(tracking.client.post(f"/v1/cases/{case['id']}/commitments", json=commitment_body(), headers=key), 201)
    page = ok(tracking.client.get("/v1/admin/audit-log", params={"limit": 100}))
    last = page["items"][-1]
    assert (last["actor"], last["action"]) == ("生态环境局整改联络员", "POST /v1/cases/{case_id}/commitments")
    assert ok(tracking.client.get("/v1/admin/audit-log/verification"))["intact"] is True


# --- Idempotency-Key on every creating POST ---------------------------------------------


def two_unsatisfied(h) -> None:
    handler = vote_marked_unsatisfied_handler(45, "专项调研组")
    for envelope in (marked_unsatisfied(ENV),
                     marked_unsatisfied(ENV, unsatisfied_round=2, vote_round=2, meeting_date=dt.date(2021, 10, 28))):
        handle_once(h.db, h.models.InboxMessage, handler, redelivered(envelope))


def _case(h) -> str:
    return open_case(h)["id"]


def _commitment(h) -> str:
    return ok(h.client.post(f"/v1/cases/{_case(h)}/commitments", json=commitment_body()), 201)["id"]


def _escalated_case(h) -> str:
    case_id = _case(h)
    two_unsatisfied(h)
    return case_id


def _audit_case(h) -> str:
    return ok(h.client.post("/v1/audit-cases", json={"audit_year": 2020, "audited_unit": ENV, "report_title": "审计工作报告",
                                                     "received_on": "2021-08-26"}), 201)["id"]


QUESTION = {"meeting_date": "2021-08-27", "asker": "张委员", "asker_type": "committee_member", "question": "扬尘何时治理？",
            "answering_official": "局长", "answer": "年内完成", "promised_action": "工地全覆盖监测", "promised_deadline": "2021-12-31"}
ATTACHMENT = {"file_name": "照片.jpg", "content_type": "image/jpeg", "content_base64": base64.b64encode(b"jpeg").decode()}

# name: (set-up returning the parent id or None, path, body, another body)
CREATING = {
    "case": (None, "/v1/cases",
             {"department": ENV, "evaluation_year": YEAR, "selection_date": "2021-02-26"},
             {"department": HOUSING, "evaluation_year": YEAR, "selection_date": "2021-02-26"}),
    "commitment": (_case, "/v1/cases/{}/commitments", commitment_body(), commitment_body(problem="另一问题")),
    "progress": (_commitment, "/v1/commitments/{}/progress",
                 {"reported_on": "2021-04-01", "text": "进展", "percent_complete": 30, "attachments": [ATTACHMENT]},
                 {"reported_on": "2021-04-01", "text": "进展", "percent_complete": 31}),
    "work report": (_case, "/v1/cases/{}/work-reports",
                    {"title": "报告", "submitted_on": "2021-08-20", "meeting_date": "2021-08-27", "document_url": "https://rd/r.pdf"},
                    {"title": "另一报告", "submitted_on": "2021-08-20", "meeting_date": "2021-08-27", "document_url": "https://rd/r.pdf"}),
    "inquiry question": (_case, "/v1/cases/{}/inquiry-questions", QUESTION, {**QUESTION, "question": "噪声何时治理？"}),
    "escalation step": (_escalated_case, "/v1/cases/{}/escalation-steps",
                        {"measure": "admonition_talk", "decided_by": "主任会议"},
                        {"measure": "interpellation_motion", "decided_by": "主任会议"}),
    "interpellation motion": (_case, "/v1/cases/{}/interpellation-motions",
                              {"subject": "质询案", "sponsors": ["张一", "李二", "王三", "赵四", "孙五"], "filed_on": "2021-11-01"},
                              {"subject": "另一质询案", "sponsors": ["张一", "李二", "王三", "赵四", "孙五"], "filed_on": "2021-11-01"}),
    "deputies' motion": (None, "/v1/motions",
                         {"number": "议案第3号", "title": "停车", "sponsors": ["张代表"], "assigned_unit": ENV, "assigned_on": "2021-03-01"},
                         {"number": "议案第4号", "title": "停车", "sponsors": ["张代表"], "assigned_unit": ENV, "assigned_on": "2021-03-01"}),
    "audit case": (None, "/v1/audit-cases",
                   {"audit_year": 2020, "audited_unit": ENV, "report_title": "审计工作报告", "received_on": "2021-08-26"},
                   {"audit_year": 2021, "audited_unit": ENV, "report_title": "审计工作报告", "received_on": "2021-08-26"}),
    "audit finding": (_audit_case, "/v1/audit-cases/{}/findings", {"finding": "资金闲置", "measure": "盘活"},
                      {"finding": "采购不规范", "measure": "完善制度"}),
}

COUNTED = ("EvaluationCase", "Commitment", "ProgressUpdate", "Attachment", "WorkReport", "InquiryQuestion", "EscalationStep",
           "InterpellationMotion", "DeputyMotion", "AuditCase", "AuditFinding", "TimelineEntry", "AuditEntry", "OutboxMessage")


def rows(h) -> dict[str, int]:
    with h.db.session() as session:
        return {name: session.scalar(select(func.count()).select_from(getattr(h.models, name))) for name in COUNTED}


@pytest.mark.parametrize("what", list(CREATING))
def test_a_retried_create_with_the_same_key_has_one_effect_and_another_body_is_refused(tracking, what, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tracking.app.state.settings, "attachments_dir", tmp_path)
    set_up, path, body, other = CREATING[what]
    path = path.format(set_up(tracking)) if set_up else path
    key = {"Idempotency-Key": "retry-" + what.replace(" ", "-").replace("'", "")}

    first = tracking.client.post(path, json=body, headers=key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    after_first = rows(tracking)

    again = tracking.client.post(path, json=body, headers=key)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert rows(tracking) == after_first

    reused = problem(tracking.client.post(path, json=other, headers=key), 422, "idempotency-key-reused")
    assert reused["idempotency_key"] == key["Idempotency-Key"]
    assert rows(tracking) == after_first


def test_idempotency_keys_are_per_caller(tracking) -> None:
    case_id = open_case(tracking)["id"]
    key = {"Idempotency-Key": "same-key"}
    department = tracking.api_key("tracking:write", department=ENV)
    staff = ok(tracking.client.post(f"/v1/cases/{case_id}/commitments", json=commitment_body(), headers=key), 201)
    mine = tracking.client.post(f"/v1/cases/{case_id}/commitments", json=commitment_body(), headers={**key, **department})
    assert mine.status_code == 201 and "idempotent-replayed" not in mine.headers
    assert mine.json()["id"] != staff["id"]
    assert len(ok(tracking.client.get("/v1/commitments", params={"case_id": case_id}))["items"]) == 2


def test_a_refused_create_leaves_its_key_free_for_the_corrected_request(tracking) -> None:
    case_id = open_case(tracking)["id"]
    key = {"Idempotency-Key": "fix-and-retry"}
    problem(tracking.client.post(f"/v1/cases/{case_id}/commitments", json=commitment_body(deadline="2021-01-01"), headers=key),
            422, "deadline-before-selection")
    # The same key with the corrected body is a new request, not a reuse.
    ok(tracking.client.post(f"/v1/cases/{case_id}/commitments", json=commitment_body(), headers=key), 201)


# --- public reads: conditional GET and rate limit ------------------------------------------


def test_the_public_case_answers_304_until_it_changes(tracking) -> None:
    case = open_case(tracking)
    anonymous = tracking.anonymous
    first = anonymous.get(f"/v1/public/cases/{case['id']}")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=30, must-revalidate"
    etag = first.headers["etag"]
    same = anonymous.get(f"/v1/public/cases/{case['id']}", headers={"If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)

    ok(tracking.client.post(f"/v1/cases/{case['id']}/commitments", json=commitment_body()), 201)
    changed = anonymous.get(f"/v1/public/cases/{case['id']}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(changed.json()["commitments"]) == 1


@pytest.fixture
def limited(tracking) -> TestClient:
    """The same service and database, with limits small enough to reach: 3 public reads and 3 requests per credential."""
    settings = settings_for("tracking", tracking.db.url, rate_limit_public_read="3/minute", rate_limit_credential="3/minute")
    return TestClient(create_app_for("tracking", settings, tracking.db), raise_server_exceptions=False)


def test_public_reads_need_no_credential_but_are_rate_limited(tracking, limited) -> None:
    case = open_case(tracking)
    paths = [f"/v1/public/cases/{case['id']}", f"/v1/public/cases/{case['id']}/status", f"/v1/public/cases/{case['id']}/timeline"]
    for remaining, path in zip((2, 1, 0), paths, strict=True):
        r = limited.get(path)
        assert r.status_code == 200, r.text
        assert (r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-remaining"]) == ("3", str(remaining))
    for path in ("/v1/public/cases", *paths):
        refused = problem(limited.get(path), 429, "rate-limited")
        assert refused["limit"] == "public_read"
        assert int(limited.get(path).headers["retry-after"]) >= 1


def test_a_credential_is_rate_limited_too(tracking, limited) -> None:
    key = tracking.api_key("read")
    for _ in range(3):
        assert limited.get("/v1/cases", headers=key).status_code == 200
    refused = problem(limited.get("/v1/cases", headers=key), 429, "rate-limited")
    assert refused["limit"] == "credential"
    # Another caller has its own count.
    assert limited.get("/v1/cases", headers=tracking.api_key("read")).status_code == 200


# --- cursor pages ------------------------------------------------------------------------


def walk(client: TestClient, path: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = ok(client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}))
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


def test_cases_and_the_public_timeline_are_cursor_pages(tracking) -> None:
    departments = ["淄博市教育局", ENV, HOUSING, "淄博市民政局", "淄博市公安局"]
    made = {open_case(tracking, department)["id"] for department in departments}
    listed = walk(tracking.client, "/v1/cases", limit=2)
    assert {c["id"] for c in listed} == made and len(listed) == 5
    assert [c["department"] for c in listed] == sorted(departments)

    case_id = open_case(tracking, "淄博市财政局")["id"]
    for i in range(3):
        ok(tracking.client.post(f"/v1/cases/{case_id}/commitments", json=commitment_body(problem=f"问题{i}")), 201)
    whole = ok(tracking.client.get(f"/v1/public/cases/{case_id}/timeline", params={"limit": 100}))
    assert whole["next_cursor"] is None
    assert walk(tracking.anonymous, f"/v1/public/cases/{case_id}/timeline", limit=2) == whole["items"]
    assert [e["kind"] for e in whole["items"]][-3:] == ["commitment_added"] * 3


def test_a_cursor_that_is_not_ours_is_refused(tracking) -> None:
    problem(tracking.client.get("/v1/cases", params={"cursor": "bm90LW91cnM"}), 422, "invalid-cursor")
    problem(tracking.client.get("/v1/cases", params={"limit": 101}), 422, "validation-error")
