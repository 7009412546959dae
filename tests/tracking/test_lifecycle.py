"""The whole lifecycle of one evaluated department, as the public and the
other services see it: selection → commitments → progress → review meeting with
inquiry → first 不满意 → investigation → re-report → 基本满意 → close. Every event
is delivered twice; each has one effect. SQLite and Postgres."""

from __future__ import annotations

from services.tracking.cases.service import ballot_closed_handler, record_grade
from shared.messaging.events import Envelope, RereportScheduled, ScoreComputed, Topic
from shared.messaging.inbox import HandleOutcome, handle_once
from tests.tracking.helpers import commitment_body, graded, marked_unsatisfied, redelivered, selection_closed

DEPT = "淄博市生态环境局"


def deliver_twice(h, handler, envelope) -> None:
    assert handle_once(h.db, h.models.InboxMessage, handler, redelivered(envelope)) == HandleOutcome.HANDLED
    assert handle_once(h.db, h.models.InboxMessage, handler, redelivered(envelope)) == HandleOutcome.DUPLICATE


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def test_selection_to_close(tracking) -> None:
    c = tracking.client
    handlers = tracking.app.state.runtime.handlers
    assert handlers["ballot.closed"] is ballot_closed_handler
    assert handlers["score.computed"] is record_grade

    # Selection at the February meeting opens the case.
    selection = selection_closed([DEPT])
    deliver_twice(tracking, handlers["ballot.closed"], selection)
    [case] = ok(c.get("/v1/public/cases"))["items"]
    case_id = case["id"]
    ok(c.patch(f"/v1/cases/{case_id}", json={"review_meeting_date": "2021-08-27"}))
    ok(c.post(f"/v1/cases/{case_id}/milestones/rectification_plan/complete", json={"completed_on": "2021-03-12"}))

    # Commitments and progress.
    commitment = ok(c.post(f"/v1/cases/{case_id}/commitments", json=commitment_body()), 201)
    ok(c.post(f"/v1/commitments/{commitment['id']}/progress",
              json={"reported_on": "2021-05-20", "text": "监测设备全部安装", "percent_complete": 80}), 201)
    ok(c.post(f"/v1/cases/{case_id}/milestones/rectification_report/complete", json={"completed_on": "2021-05-25"}))

    # The review meeting: report, inquiry with a promise, then the vote.
    ok(c.post(f"/v1/cases/{case_id}/work-reports", json={
        "title": "关于生态环境保护工作情况的报告", "submitted_on": "2021-08-20", "meeting_date": "2021-08-27", "document_url": "https://rd.zibo.gov.cn/r.pdf"}), 201)
    question = ok(c.post(f"/v1/cases/{case_id}/inquiry-questions", json={
        "meeting_date": "2021-08-27", "asker": "刘代表", "asker_type": "npc_deputy", "question": "秸秆焚烧如何根治？",
        "answering_official": "市生态环境局局长", "answer": "网格化巡查", "promised_action": "建立秸秆禁烧网格", "promised_deadline": "2021-10-31"}), 201)

    # First 不满意: investigation and re-report, announced once on rereport.scheduled.
    unsatisfied = marked_unsatisfied(DEPT)
    deliver_twice(tracking, handlers["vote.marked_unsatisfied"], unsatisfied)
    deliver_twice(tracking, handlers["score.computed"], graded(DEPT, "unsatisfied"))
    [event] = [Envelope.model_validate_json(r.body) for r in tracking.outbox(Topic.REREPORT_SCHEDULED.value)]
    scheduled = RereportScheduled.from_envelope(event)
    assert (scheduled.case_id, scheduled.vote_round, scheduled.mode) == (case_id, 2, "inquiry_or_interpellation")
    status = ok(c.get(f"/v1/public/cases/{case_id}/status"))
    assert (status["stage"], status["latest_grade"]) == ("investigation", "unsatisfied")

    [investigation] = ok(c.get("/v1/investigations", params={"case_id": case_id}))["items"]
    assert investigation["id"] == scheduled.investigation_id
    ok(c.post(f"/v1/investigations/{investigation['id']}/findings", json={"findings": "执法检查频次不足"}))
    assert ok(c.get(f"/v1/public/cases/{case_id}/status"))["stage"] == "awaiting_rereport"
    again = c.post(f"/v1/investigations/{investigation['id']}/findings", json={"findings": "再次"})
    assert again.status_code == 409 and again.json()["type"] == "urn:pingyi:problem:investigation-completed"
    finding_commitment = ok(c.post(f"/v1/cases/{case_id}/commitments", json=commitment_body(
        problem="执法检查频次不足", evidence=[{"kind": "investigation_finding", "reference": investigation["id"], "label": "专题调研"}],
        deadline="2021-10-15")), 201)

    # Re-report at the October meeting: 基本满意.
    deliver_twice(tracking, handlers["score.computed"], graded(DEPT, "basically_satisfied", vote_round=2))
    status = ok(c.get(f"/v1/public/cases/{case_id}/status"))
    assert (status["stage"], status["latest_grade"]) == ("rectification", "basically_satisfied")

    blocked = c.post(f"/v1/cases/{case_id}/close", json={"closed_by": "常委会办公厅"})
    assert blocked.status_code == 409 and blocked.json()["open_commitments"] == 3
    for cid in (commitment["id"], question["commitment_id"], finding_commitment["id"]):
        ok(c.post(f"/v1/commitments/{cid}/complete", json={"completed_on": "2021-10-30", "evidence": "验收材料"}))
    closed = ok(c.post(f"/v1/cases/{case_id}/close", json={"closed_by": "常委会办公厅"}))
    assert closed["status"] == "closed"

    public = ok(c.get(f"/v1/public/cases/{case_id}"))
    assert [r["grade_label"] for r in public["results"]] == ["不满意", "基本满意"]
    assert {m["kind"]: m["status"] for m in public["milestones"]} == {
        "rectification_plan": "done", "rectification_report": "done", "review_meeting_report": "done"}
    assert not any(cm["overdue"] for cm in public["commitments"])
    timeline = ok(c.get(f"/v1/public/cases/{case_id}/timeline", params={"limit": 100}))["items"]
    kinds = [t["kind"] for t in timeline]
    for kind in ("case_opened", "selected", "commitment_added", "progress_reported", "work_report_heard", "inquiry_question",
                 "unsatisfied", "investigation_opened", "rereport_scheduled", "investigation_completed", "graded", "case_closed"):
        assert kind in kinds, kind
    assert kinds.count("selected") == 1 and kinds.count("graded") == 2 and kinds[-1] == "case_closed"
    sources = {t["source"].split(" ")[0] for t in timeline}
    assert f"event:{selection.event_id}" in sources and f"event:{unsatisfied.event_id}" in sources
    assert any(s.startswith("http:POST") for s in sources)
    # Nothing else was announced: tracking emits only rereport.scheduled, once.
    assert len(tracking.outbox()) == 1


def test_a_grade_reannounced_under_a_new_event_id_is_recorded_once(tracking) -> None:
    first = graded(DEPT, "satisfied")
    payload = ScoreComputed.from_envelope(first)
    again = ScoreComputed(**{**payload.model_dump(), "computation_id": "another"}).envelope(producer="scoring", key=DEPT)
    assert again.event_id != first.event_id
    deliver_twice(tracking, record_grade, first)
    deliver_twice(tracking, record_grade, again)
    [case] = ok(tracking.client.get("/v1/public/cases"))["items"]
    public = ok(tracking.client.get(f"/v1/public/cases/{case['id']}"))
    assert [r["grade"] for r in public["results"]] == ["satisfied"]
