"""Issue 13, least-privilege reads in tracking: every credential kind against
every read route. A department's key reads its own department's records
only; internal notes and investigation findings need a staff scope; a member
token (voting's) and another service's key read nothing here."""

from __future__ import annotations

import base64

import pytest

from services.tracking.cases.service import vote_marked_unsatisfied_handler
from shared.messaging.inbox import handle_once
from tests.tracking.helpers import marked_unsatisfied, redelivered
from tests.tracking.test_tracking_security import ENV, HOUSING, SCOPES, department_world, ok

NOTE = "内部：联络员反映进度偏慢"
FINDINGS = "调研发现：扬尘监测点位不足"

# Each read route, made concrete for one department's records.
ROUTES = {
    "/v1/cases/{case_id}": lambda o: f"/v1/cases/{o['case']['id']}",
    "/v1/commitments/{commitment_id}": lambda o: f"/v1/commitments/{o['commitment']['id']}",
    "/v1/attachments/{attachment_id}": lambda o: f"/v1/attachments/{o['attachment']}",
    "/v1/cases/{case_id}/work-reports": lambda o: f"/v1/cases/{o['case']['id']}/work-reports",
    "/v1/cases/{case_id}/inquiry-questions": lambda o: f"/v1/cases/{o['case']['id']}/inquiry-questions",
    "/v1/cases/{case_id}/escalation-steps": lambda o: f"/v1/cases/{o['case']['id']}/escalation-steps",
    "/v1/cases/{case_id}/interpellation-motions": lambda o: f"/v1/cases/{o['case']['id']}/interpellation-motions",
    "/v1/motions/{motion_id}": lambda o: f"/v1/motions/{o['motion']['id']}",
    "/v1/audit-cases/{case_id}": lambda o: f"/v1/audit-cases/{o['audit']['id']}",
}
# Each list, and the ids of one department's records it holds.
LISTS = {
    "/v1/cases": lambda o: {o["case"]["id"]},
    "/v1/commitments": lambda o: {o["commitment"]["id"]},
    "/v1/investigations": lambda o: {o["investigation"]},
    "/v1/motions": lambda o: {o["motion"]["id"]},
    "/v1/audit-cases": lambda o: {o["audit"]["id"]},
}


def world(h) -> dict:
    objects = department_world(h)
    handler = vote_marked_unsatisfied_handler(45, "专项调研组")
    attachment = {"file_name": "照片.jpg", "content_type": "image/jpeg", "content_base64": base64.b64encode(b"jpeg").decode()}
    for department, o in objects.items():
        progress = ok(h.client.post(f"/v1/commitments/{o['commitment']['id']}/progress", json={
            "reported_on": "2021-04-01", "text": "进展", "percent_complete": 30, "internal_note": NOTE,
            "attachments": [attachment]}), 201)
        o["attachment"] = progress["attachments"][0]["id"]
        handle_once(h.db, h.models.InboxMessage, handler, redelivered(marked_unsatisfied(department)))
        (investigation,) = ok(h.client.get("/v1/investigations", params={"case_id": o["case"]["id"]}))["items"]
        ok(h.client.post(f"/v1/investigations/{investigation['id']}/findings", json={"findings": FINDINGS}))
        o["investigation"] = investigation["id"]
    return objects


@pytest.fixture
def credentials(tracking) -> dict[str, dict]:
    return {
        "staff": {},  # the harness's operator: tracking:admin
        "reader": tracking.api_key("read"),
        "internal reader": tracking.api_key("tracking:read-internal"),
        "department": tracking.api_key("tracking:write", department=ENV),
        "member": tracking.member_token("m01", "mtg-1"),
        "other service": tracking.api_key("scoring:admin"),
    }


def ids(page: dict) -> set[str]:
    return {item["id"] for item in page["items"]}


def test_the_matrix_covers_every_read_route():
    reads = {path for (method, path), scope in SCOPES.items() if method == "GET" and scope == "tracking:read"}
    assert reads == set(ROUTES) | set(LISTS)


def test_every_credential_kind_against_every_read_route(tracking, credentials) -> None:
    objects = world(tracking)
    mine, theirs = objects[ENV], objects[HOUSING]
    for kind, headers in credentials.items():
        for template, concrete in ROUTES.items():
            for owner, o in ((ENV, mine), (HOUSING, theirs)):
                r = tracking.client.get(concrete(o), headers=headers)
                if kind in ("member", "other service"):
                    expected = 403, "missing-scope"
                elif kind == "department" and owner != ENV:
                    expected = 403, "other-department"
                else:
                    expected = 200, None
                assert r.status_code == expected[0], (kind, template, owner, r.text)
                if expected[1]:
                    assert r.json()["type"] == f"urn:pingyi:problem:{expected[1]}", (kind, template)
        for template, held in LISTS.items():
            r = tracking.client.get(template, headers=headers, params={"limit": 100})
            if kind in ("member", "other service"):
                assert r.status_code == 403, (kind, template)
                continue
            assert r.status_code == 200, (kind, template, r.text)
            expected = held(mine) if kind == "department" else held(mine) | held(theirs)
            assert ids(r.json()) == expected, (kind, template)
    # Anonymous: 401 on every one.
    for template, concrete in ROUTES.items():
        assert tracking.anonymous.get(concrete(mine)).status_code == 401, template
    for template in LISTS:
        assert tracking.anonymous.get(template).status_code == 401, template


def _internal(h, headers: dict, o: dict) -> dict:
    commitment = ok(h.client.get(f"/v1/commitments/{o['commitment']['id']}", headers=headers))
    case = ok(h.client.get(f"/v1/cases/{o['case']['id']}", headers=headers))
    listed = ok(h.client.get("/v1/investigations", params={"case_id": o["case"]["id"]}, headers=headers))
    return {
        "progress note": commitment["progress"][0]["internal_note"],
        "findings": case["investigations"][0]["findings"],
        "listed findings": listed["items"][0]["findings"],
    }


def test_internal_notes_and_findings_need_a_staff_scope(tracking, credentials) -> None:
    o = world(tracking)[ENV]
    everything = {"progress note": NOTE, "findings": FINDINGS, "listed findings": FINDINGS}
    assert _internal(tracking, credentials["staff"], o) == everything
    assert _internal(tracking, credentials["internal reader"], o) == everything
    assert _internal(tracking, credentials["reader"], o) == dict.fromkeys(everything)
    # The department wrote its notes and reads them back; the research group's findings are the staff's.
    assert _internal(tracking, credentials["department"], o) == {"progress note": NOTE, "findings": None,
                                                                 "listed findings": None}


def test_a_department_key_asking_for_another_departments_cases_is_refused(tracking, credentials) -> None:
    world(tracking)
    r = tracking.client.get("/v1/cases", params={"department": HOUSING}, headers=credentials["department"])
    assert r.status_code == 403 and r.json()["type"] == "urn:pingyi:problem:other-department"
    mine = ok(tracking.client.get("/v1/cases", params={"department": ENV}, headers=credentials["department"]))
    assert {c["department"] for c in mine["items"]} == {ENV}
