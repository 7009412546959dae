"""Cases opened by the competitive selection (ballot.closed) or by hand, their
milestones, rectification commitments, progress with attachments and
completion; overdue flags and illegal transitions. SQLite and Postgres."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from services.tracking.cases.service import ballot_closed_handler, vote_marked_unsatisfied_handler
from shared.messaging.inbox import HandleOutcome, handle_once
from tests.tracking.helpers import SELECTION_DATE, WINNERS, YEAR, commitment_body, marked_unsatisfied, redelivered, selection_closed


def deliver(h, handler, envelope) -> str:
    return handle_once(h.db, h.models.InboxMessage, handler, redelivered(envelope))


def cases(h) -> list[dict]:
    r = h.client.get("/v1/cases")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def case_detail(h, case_id: str) -> dict:
    r = h.client.get(f"/v1/cases/{case_id}")
    assert r.status_code == 200, r.text
    return r.json()


def open_case(h, **overrides) -> dict:
    body = {"department": "淄博市生态环境局", "evaluation_year": YEAR, "selection_date": SELECTION_DATE.isoformat(), "batch": 1}
    body.update(overrides)
    r = h.client.post("/v1/cases", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def milestones(case: dict) -> dict[str, dict]:
    return {m["kind"]: m for m in case["milestones"]}


# --- opening from ballot.closed ----------------------------------------------


def test_the_year_plans_review_month_dates_the_review_milestone_until_the_meeting_is_set(tracking) -> None:
    from services.tracking.cases.service import record_grade
    from shared.messaging.events import ScoreComputed

    plan = ScoreComputed(computation_id="c-1", kind="composite_ranking", plan_id="plan-2021", evaluation_year=YEAR, batch=1,
                         seats=len(WINNERS), ranking=[], slate=list(WINNERS), escalation_policy="admonition_talk", review_month=8)
    deliver(tracking, record_grade, plan.envelope(producer="scoring", key="plan-2021"))
    deliver(tracking, ballot_closed_handler, selection_closed())
    case = case_detail(tracking, cases(tracking)[0]["id"])
    # Batch 1 is heard in August: due by its last day.
    assert milestones(case)["review_meeting_report"]["due_on"] == f"{YEAR}-08-31"
    # The meeting's real date, once known, replaces it.
    r = tracking.client.patch(f"/v1/cases/{case['id']}", json={"review_meeting_date": f"{YEAR}-08-26"})
    assert r.status_code == 200, r.text
    assert milestones(case_detail(tracking, case["id"]))["review_meeting_report"]["due_on"] == f"{YEAR}-08-26"


def test_a_competitive_selection_opens_one_case_per_winner_with_milestones(tracking) -> None:
    assert deliver(tracking, ballot_closed_handler, selection_closed()) == HandleOutcome.HANDLED
    listed = cases(tracking)
    assert sorted(c["department"] for c in listed) == sorted(WINNERS)
    for summary in listed:
        assert summary["evaluation_year"] == YEAR
        assert summary["selection_date"] == "2021-02-26"
        assert summary["batch"] == 1
        assert (summary["status"], summary["stage"], summary["stage_label"]) == ("open", "rectification", "整改中")
        case = case_detail(tracking, summary["id"])
        ms = milestones(case)
        # 15 days after 2021-02-26; 3 months after it; no review meeting date known yet.
        assert set(ms) == {"rectification_plan", "rectification_report"}
        assert ms["rectification_plan"]["due_on"] == "2021-03-13"
        assert ms["rectification_report"]["due_on"] == "2021-05-26"
        assert ms["rectification_plan"]["label"] == "提交整改方案"
        assert all(m["status"] == "pending" for m in ms.values())
        # Those dates lie in the past of the test run, unfinished: overdue.
        assert all(m["overdue"] for m in ms.values())
        kinds = [t["kind"] for t in case["timeline"]]
        assert kinds[:2] == ["case_opened", "selected"]
        assert kinds.count("milestone_set") == 2


def test_the_selection_delivered_twice_or_reannounced_opens_each_case_once(tracking) -> None:
    envelope = selection_closed()
    assert deliver(tracking, ballot_closed_handler, envelope) == HandleOutcome.HANDLED
    assert deliver(tracking, ballot_closed_handler, envelope) == HandleOutcome.DUPLICATE
    # The same selection under a new event id (natural key: department and year).
    assert deliver(tracking, ballot_closed_handler, selection_closed()) == HandleOutcome.HANDLED
    listed = cases(tracking)
    assert len(listed) == 2
    for summary in listed:
        case = case_detail(tracking, summary["id"])
        assert len(case["milestones"]) == 2
        assert [t["kind"] for t in case["timeline"]].count("selected") == 1


@pytest.mark.parametrize("kind", ["satisfaction", "resolution", "public_vote"])
def test_other_ballots_open_no_case(tracking, kind: str) -> None:
    assert deliver(tracking, ballot_closed_handler, selection_closed(kind=kind)) == HandleOutcome.HANDLED
    assert cases(tracking) == []


def test_the_app_routes_ballot_closed_to_the_selection_handler(tracking) -> None:
    handler = tracking.app.state.runtime.handlers["ballot.closed"]
    assert deliver(tracking, handler, selection_closed(["淄博市教育局"], year=None)) == HandleOutcome.HANDLED
    [case] = cases(tracking)
    # Without evaluation_year the selection's own year is used.
    assert (case["department"], case["evaluation_year"]) == ("淄博市教育局", 2021)


# --- opening by hand, plan changes ---------------------------------------------


def test_a_case_opened_through_the_api_is_recorded_with_its_caller(tracking) -> None:
    case = open_case(tracking, complex_case=True, review_meeting_date="2021-08-27")
    ms = milestones(case)
    assert ms["rectification_report"]["due_on"] == "2021-08-26"  # six months for a complex case
    assert ms["review_meeting_report"]["due_on"] == "2021-08-27"
    assert ms["review_meeting_report"]["label"] == "常委会会议听取专项工作报告"
    sources = {t["source"] for t in case["timeline"]}
    assert len(sources) == 1
    assert next(iter(sources)).startswith("http:POST /v1/cases request_id=")


def test_opening_the_same_case_twice_is_a_409(tracking) -> None:
    first = open_case(tracking)
    r = tracking.client.post("/v1/cases", json={"department": "淄博市生态环境局", "evaluation_year": YEAR, "selection_date": "2021-04-20"})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:pingyi:problem:case-exists"
    assert r.json()["case_id"] == first["id"]
    assert case_detail(tracking, first["id"])["selection_date"] == "2021-02-26"


def test_a_case_body_with_unknown_fields_is_refused(tracking) -> None:
    r = tracking.client.post("/v1/cases", json={"department": "x", "evaluation_year": YEAR, "selection_date": "2021-02-26", "secret": 1})
    assert r.status_code == 422
    assert r.json()["type"] == "urn:pingyi:problem:validation-error"
    assert cases(tracking) == []


def test_setting_the_review_meeting_and_complexity_moves_pending_milestones(tracking) -> None:
    case = open_case(tracking)
    r = tracking.client.patch(f"/v1/cases/{case['id']}", json={"complex_case": True, "review_meeting_date": "2021-08-27"})
    assert r.status_code == 200, r.text
    ms = milestones(r.json())
    assert ms["rectification_report"]["due_on"] == "2021-08-26"
    assert ms["review_meeting_report"]["due_on"] == "2021-08-27"
    assert ms["rectification_plan"]["due_on"] == "2021-03-13"
    assert "milestone_moved" in [t["kind"] for t in r.json()["timeline"]]
    # Withdrawing the meeting date removes that pending milestone; the others stay.
    withdrawn = tracking.client.patch(f"/v1/cases/{case['id']}", json={"review_meeting_date": None})
    assert withdrawn.status_code == 200, withdrawn.text
    assert set(milestones(withdrawn.json())) == {"rectification_plan", "rectification_report"}
    assert withdrawn.json()["complex_case"] is True


def test_completing_a_milestone_clears_its_overdue_flag(tracking) -> None:
    case = open_case(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/milestones/rectification_plan/complete",
                             json={"completed_on": "2021-03-10", "document_url": "https://rd.zibo.gov.cn/plan.pdf"})
    assert r.status_code == 200, r.text
    plan = milestones(r.json())["rectification_plan"]
    assert (plan["status"], plan["completed_on"], plan["overdue"]) == ("done", "2021-03-10", False)
    again = tracking.client.post(f"/v1/cases/{case['id']}/milestones/rectification_plan/complete", json={"completed_on": "2021-03-11"})
    assert again.status_code == 409
    assert again.json()["type"] == "urn:pingyi:problem:milestone-done"
    unknown = tracking.client.post(f"/v1/cases/{case['id']}/milestones/nonsense/complete", json={"completed_on": "2021-03-11"})
    assert unknown.status_code == 404


def test_a_milestone_in_the_future_is_not_overdue(tracking) -> None:
    soon = dt.date.today() + dt.timedelta(days=30)
    case = open_case(tracking, selection_date=soon.isoformat(), evaluation_year=soon.year)
    assert not any(m["overdue"] for m in case["milestones"])


# --- commitments -----------------------------------------------------------------


def add_commitment(h, case_id: str, **overrides) -> dict:
    r = h.client.post(f"/v1/cases/{case_id}/commitments", json=commitment_body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def test_a_commitment_is_recorded_with_its_evidence_and_flagged_overdue_when_late(tracking) -> None:
    case = open_case(tracking)
    late = add_commitment(tracking, case["id"])
    future = add_commitment(tracking, case["id"], deadline=(dt.date.today() + dt.timedelta(days=60)).isoformat(), problem="噪声")
    assert late["status"] == "open" and late["status_label"] == "未开始"
    assert late["evidence"] == commitment_body()["evidence"]
    assert (late["responsible_unit"], late["responsible_person"]) == ("大气污染防治科", "王科长")
    assert late["overdue"] is True and future["overdue"] is False

    page = tracking.client.get("/v1/commitments", params={"case_id": case["id"]}).json()
    assert {c["id"]: c["overdue"] for c in page["items"]} == {late["id"]: True, future["id"]: False}
    overdue = tracking.client.get("/v1/commitments", params={"overdue": "true"}).json()
    assert [c["id"] for c in overdue["items"]] == [late["id"]]
    on_time = tracking.client.get("/v1/commitments", params={"overdue": "false"}).json()
    assert [c["id"] for c in on_time["items"]] == [future["id"]]


def test_commitments_are_paginated(tracking) -> None:
    case = open_case(tracking)
    made = [add_commitment(tracking, case["id"], problem=f"问题{i}")["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = tracking.client.get("/v1/commitments", params=params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made


def test_a_deadline_before_the_selection_date_is_a_422_and_adds_nothing(tracking) -> None:
    case = open_case(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/commitments", json=commitment_body(deadline="2021-02-25"))
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "urn:pingyi:problem:deadline-before-selection"
    assert body["rule"] == "deadline_on_or_after_selection_date"
    assert tracking.client.get("/v1/commitments").json()["items"] == []
    # The selection day itself is allowed.
    assert tracking.client.post(f"/v1/cases/{case['id']}/commitments", json=commitment_body(deadline="2021-02-26")).status_code == 201


def test_evidence_must_point_at_this_cases_records(tracking) -> None:
    case = open_case(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/commitments",
                             json=commitment_body(evidence=[{"kind": "investigation_finding", "reference": "no-such-id"}]))
    assert r.status_code == 422
    assert r.json()["type"] == "urn:pingyi:problem:evidence-not-found"


def test_a_case_without_selection_takes_no_commitments(tracking) -> None:
    deliver(tracking, vote_marked_unsatisfied_handler(45, "专项调研组"), marked_unsatisfied("淄博市民政局"))
    [case] = cases(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/commitments", json=commitment_body())
    assert r.status_code == 409
    assert r.json()["type"] == "urn:pingyi:problem:case-not-selected"


def test_progress_with_attachments_is_stored_on_disk_by_sha256(tracking, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tracking.app.state.settings, "attachments_dir", tmp_path)
    case = open_case(tracking)
    commitment = add_commitment(tracking, case["id"])
    content = "整改照片".encode() * 100
    r = tracking.client.post(f"/v1/commitments/{commitment['id']}/progress", json={
        "reported_on": "2021-04-01", "text": "已安装监测设备30台", "percent_complete": 40,
        "attachments": [{"file_name": "监测设备.jpg", "content_type": "image/jpeg", "content_base64": base64.b64encode(content).decode()}],
    })
    assert r.status_code == 201, r.text
    progress = r.json()
    [attachment] = progress["attachments"]
    digest = hashlib.sha256(content).hexdigest()
    assert (attachment["file_name"], attachment["size"], attachment["sha256"]) == ("监测设备.jpg", len(content), digest)
    assert (tmp_path / digest[:2] / digest).read_bytes() == content
    download = tracking.client.get(f"/v1/attachments/{attachment['id']}")
    assert download.status_code == 200 and download.content == content
    assert download.headers["content-type"] == "image/jpeg"

    detail = tracking.client.get(f"/v1/commitments/{commitment['id']}").json()
    assert (detail["status"], detail["percent_complete"]) == ("in_progress", 40)
    assert [p["text"] for p in detail["progress"]] == ["已安装监测设备30台"]


def test_an_attachment_that_is_not_base64_or_too_large_is_refused(tracking, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tracking.app.state.settings, "attachments_dir", tmp_path)
    monkeypatch.setattr(tracking.app.state.settings, "attachment_max_bytes", 10)
    case = open_case(tracking)
    commitment = add_commitment(tracking, case["id"])
    base = {"reported_on": "2021-04-01", "text": "进展", "percent_complete": 10}
    bad = tracking.client.post(f"/v1/commitments/{commitment['id']}/progress",
                               json={**base, "attachments": [{"file_name": "a", "content_base64": "%%%"}]})
    assert bad.status_code == 422 and bad.json()["type"] == "urn:pingyi:problem:attachment-not-base64"
    big = tracking.client.post(f"/v1/commitments/{commitment['id']}/progress",
                               json={**base, "attachments": [{"file_name": "a", "content_base64": base64.b64encode(b"x" * 11).decode()}]})
    assert big.status_code == 422 and big.json()["type"] == "urn:pingyi:problem:attachment-too-large"
    assert tracking.client.get(f"/v1/commitments/{commitment['id']}").json()["progress"] == []
    assert list(tmp_path.iterdir()) == []


def test_completion_needs_evidence_and_then_the_commitment_takes_no_more_progress(tracking) -> None:
    case = open_case(tracking)
    commitment = add_commitment(tracking, case["id"])
    no_evidence = tracking.client.post(f"/v1/commitments/{commitment['id']}/complete", json={"completed_on": "2021-06-01"})
    assert no_evidence.status_code == 422
    done = tracking.client.post(f"/v1/commitments/{commitment['id']}/complete",
                                json={"completed_on": "2021-06-01", "evidence": "监测数据显示扬尘投诉下降60%"})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["percent_complete"], done.json()["overdue"]) == ("done", 100, False)

    r = tracking.client.post(f"/v1/commitments/{commitment['id']}/progress",
                             json={"reported_on": "2021-06-02", "text": "补充", "percent_complete": 100})
    assert r.status_code == 409
    assert r.json()["type"] == "urn:pingyi:problem:commitment-finished"
    assert r.json()["rule"] == "no_changes_after_done_or_closed"
    assert tracking.client.get(f"/v1/commitments/{commitment['id']}").json()["progress"] == []
    assert tracking.client.post(f"/v1/commitments/{commitment['id']}/close", json={"reason": "x"}).status_code == 409


def test_a_commitment_closed_with_a_reason_is_no_longer_overdue(tracking) -> None:
    case = open_case(tracking)
    commitment = add_commitment(tracking, case["id"])
    r = tracking.client.post(f"/v1/commitments/{commitment['id']}/close", json={"reason": "职能划转至市城管局，移交办理"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["close_reason"], r.json()["overdue"]) == ("closed", "职能划转至市城管局，移交办理", False)
    assert tracking.client.get("/v1/commitments", params={"overdue": "true"}).json()["items"] == []


def test_progress_on_an_unknown_commitment_is_a_404(tracking) -> None:
    r = tracking.client.post("/v1/commitments/nope/progress", json={"reported_on": "2021-04-01", "text": "x", "percent_complete": 1})
    assert r.status_code == 404
