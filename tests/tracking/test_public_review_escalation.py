"""Public read endpoints (publishable fields only, compact status with ETag/304,
timeline with sources), review meeting records, escalation after a second
不满意, interpellation motions and closing a case. SQLite and Postgres."""

from __future__ import annotations

import base64
import datetime as dt

from services.tracking.app import create_app
from services.tracking.cases.service import ESCALATION_POLICY_DECIDER, record_grade, vote_marked_unsatisfied_handler
from shared.messaging.inbox import handle_once
from tests.conftest import settings_for
from tests.tracking.helpers import YEAR, commitment_body, graded, marked_unsatisfied, redelivered

DEPT = "淄博市生态环境局"


def deliver(h, handler, envelope) -> str:
    return handle_once(h.db, h.models.InboxMessage, handler, redelivered(envelope))


def open_case(h, **overrides) -> dict:
    body = {"department": DEPT, "evaluation_year": YEAR, "selection_date": "2021-02-26", "batch": 1, "review_meeting_date": "2021-08-27"}
    body.update(overrides)
    r = h.client.post("/v1/cases", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def add_commitment(h, case_id: str, **overrides) -> dict:
    r = h.client.post(f"/v1/cases/{case_id}/commitments", json=commitment_body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def question_body(**overrides) -> dict:
    body = {
        "meeting_date": "2021-08-27",
        "asker": "李明",
        "asker_type": "citizen_representative",
        "question": "小区周边工地夜间施工噪声何时解决？",
        "answering_official": "市生态环境局局长",
        "answer": "将联合住建部门开展夜间施工专项整治",
        "promised_action": "开展夜间施工专项整治，建立投诉快速处置机制",
        "promised_deadline": "2021-12-31",
        "responsible_unit": "执法支队",
    }
    body.update(overrides)
    return body


# --- public view ---------------------------------------------------------------

PUBLIC_CASE_KEYS = {"id", "department", "evaluation_year", "batch", "selection_date", "status", "stage", "stage_label",
                    "latest_grade", "latest_grade_label", "updated_at"}
PUBLIC_DETAIL_KEYS = PUBLIC_CASE_KEYS | {"milestones", "commitments", "results", "work_reports", "inquiry", "escalation",
                                         "investigations", "rereports", "interpellation_motions"}
PUBLIC_COMMITMENT_KEYS = {"id", "problem", "evidence", "measure", "responsible_unit", "deadline", "status", "status_label",
                          "percent_complete", "completed_on", "completion_evidence", "close_reason", "overdue", "progress"}
PUBLIC_PROGRESS_KEYS = {"reported_on", "text", "percent_complete", "attachments"}
PUBLIC_ATTACHMENT_KEYS = {"id", "file_name", "size", "sha256"}
PUBLIC_MILESTONE_KEYS = {"kind", "label", "due_on", "status", "completed_on", "overdue"}
PUBLIC_QUESTION_KEYS = {"meeting_date", "asker", "asker_type", "asker_type_label", "question", "answering_official", "answer",
                        "promised_action", "promised_deadline"}


def test_the_public_view_carries_only_publishable_fields(tracking, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tracking.app.state.settings, "attachments_dir", tmp_path)
    case = open_case(tracking)
    commitment = add_commitment(tracking, case["id"])
    r = tracking.client.post(f"/v1/commitments/{commitment['id']}/progress", json={
        "reported_on": "2021-04-01", "text": "已安装监测设备", "percent_complete": 30, "internal_note": "进度偏慢，需督办",
        "attachments": [{"file_name": "照片.jpg", "content_base64": base64.b64encode(b"jpeg").decode()}],
    })
    assert r.status_code == 201
    assert tracking.client.post(f"/v1/cases/{case['id']}/inquiry-questions", json=question_body()).status_code == 201
    deliver(tracking, record_grade, graded(DEPT, "basically_satisfied"))

    page = tracking.client.get("/v1/public/cases")
    assert page.status_code == 200
    [listed] = page.json()["items"]
    assert set(listed) == PUBLIC_CASE_KEYS
    assert listed["latest_grade_label"] == "基本满意"

    detail = tracking.client.get(f"/v1/public/cases/{case['id']}").json()
    assert set(detail) == PUBLIC_DETAIL_KEYS
    assert all(set(m) == PUBLIC_MILESTONE_KEYS for m in detail["milestones"])
    assert len(detail["commitments"]) == 2  # the commitment and the one promised at the inquiry
    for c in detail["commitments"]:
        assert set(c) == PUBLIC_COMMITMENT_KEYS
        assert all(set(e) == {"kind", "label"} for e in c["evidence"])
    [progress] = detail["commitments"][0]["progress"]
    assert set(progress) == PUBLIC_PROGRESS_KEYS
    assert [set(a) for a in progress["attachments"]] == [PUBLIC_ATTACHMENT_KEYS]
    # Anyone may download it, with no credential.
    download = tracking.anonymous.get(f"/v1/public/attachments/{progress['attachments'][0]['id']}")
    assert download.status_code == 200 and download.content == b"jpeg"
    assert "照片.jpg" in download.headers["content-disposition"] or "%E7%85%A7" in download.headers["content-disposition"]
    [question] = detail["inquiry"]
    assert set(question) == PUBLIC_QUESTION_KEYS
    # A citizen representative is shown by role, never by name.
    assert question["asker"] == "市民代表"
    assert detail["results"] == [{"vote_round": 1, "meeting_date": "2021-10-28", "grade": "basically_satisfied", "grade_label": "基本满意"}]
    text = str(detail)
    for private in ("进度偏慢，需督办", "该科室人手不足，需协调", "王科长", "李明"):
        assert private not in text


def test_public_reads_of_an_unknown_case_are_404(tracking) -> None:
    for path in ("/v1/public/cases/nope", "/v1/public/cases/nope/status", "/v1/public/cases/nope/timeline",
                 "/v1/public/attachments/nope"):
        r = tracking.client.get(path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_the_compact_status_answers_304_until_something_changes(tracking) -> None:
    case = open_case(tracking, selection_date=dt.date.today().isoformat(), evaluation_year=dt.date.today().year,
                     review_meeting_date=None)
    r = tracking.client.get(f"/v1/public/cases/{case['id']}/status")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=30, must-revalidate"
    status = r.json()
    assert set(status) == {"case_id", "stage", "stage_label", "status", "latest_grade", "next_deadline", "overdue_count", "last_change"}
    assert status["next_deadline"] == {"what": "milestone:rectification_plan", "label": "提交整改方案",
                                       "due_on": (dt.date.today() + dt.timedelta(days=15)).isoformat(), "overdue": False}
    assert status["overdue_count"] == 0
    assert status["last_change"]["kind"] == "milestone_set"
    etag = r.headers["etag"]

    again = tracking.client.get(f"/v1/public/cases/{case['id']}/status", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    # Answered before routing from the cache, yet counted under its route for operations.
    metrics = tracking.client.get("/metrics").text
    assert 'pingyi_http_requests_total{method="GET",route="/v1/public/cases/{case_id}/status",status="304"} 1.0' in metrics

    # A commitment due tomorrow becomes the next deadline: a new ETag.
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    add_commitment(tracking, case["id"], deadline=tomorrow)
    changed = tracking.client.get(f"/v1/public/cases/{case['id']}/status", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["next_deadline"]["due_on"] == tomorrow
    assert changed.json()["last_change"]["kind"] == "commitment_added"


def test_the_status_counts_overdue_deadlines(tracking) -> None:
    case = open_case(tracking)  # 2021 dates: both milestones and the commitment are past
    add_commitment(tracking, case["id"])
    status = tracking.client.get(f"/v1/public/cases/{case['id']}/status").json()
    assert status["overdue_count"] == 4  # plan, report, review meeting, commitment
    assert status["next_deadline"]["due_on"] == "2021-03-13" and status["next_deadline"]["overdue"] is True


def test_the_timeline_names_the_source_of_every_change(tracking) -> None:
    unsatisfied = marked_unsatisfied(DEPT)
    deliver(tracking, vote_marked_unsatisfied_handler(45, "专项调研组"), unsatisfied)
    [case] = tracking.client.get("/v1/cases").json()["items"]
    r = tracking.client.get(f"/v1/public/cases/{case['id']}/timeline")
    assert r.status_code == 200
    entries = r.json()["items"]
    assert all(set(e) == {"at", "kind", "summary", "source"} for e in entries)
    assert {e["source"] for e in entries} == {f"event:{unsatisfied.event_id}"}
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats)


# --- review meeting --------------------------------------------------------------


def test_the_work_report_is_recorded_and_fulfils_the_review_meeting_milestone(tracking) -> None:
    case = open_case(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/work-reports", json={
        "title": "关于生态环境保护工作情况的报告", "submitted_on": "2021-08-20", "meeting_date": "2021-08-27",
        "document_url": "https://rd.zibo.gov.cn/report.pdf"})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "关于生态环境保护工作情况的报告"
    assert [w["id"] for w in tracking.client.get(f"/v1/cases/{case['id']}/work-reports").json()["items"]] == [r.json()["id"]]
    ms = {m["kind"]: m for m in tracking.client.get(f"/v1/cases/{case['id']}").json()["milestones"]}
    assert (ms["review_meeting_report"]["status"], ms["review_meeting_report"]["completed_on"]) == ("done", "2021-08-27")
    late = tracking.client.post(f"/v1/cases/{case['id']}/work-reports", json={
        "title": "x", "submitted_on": "2021-08-28", "meeting_date": "2021-08-27", "document_url": "u"})
    assert late.status_code == 422 and late.json()["type"] == "urn:pingyi:problem:report-after-meeting"


def test_an_inquiry_promise_becomes_a_commitment_linked_to_its_question(tracking) -> None:
    case = open_case(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/inquiry-questions", json=question_body(asker="张委员", asker_type="committee_member"))
    assert r.status_code == 201, r.text
    question = r.json()
    assert question["asker_type_label"] == "常委会组成人员"
    commitment = tracking.client.get(f"/v1/commitments/{question['commitment_id']}").json()
    assert commitment["problem"] == question_body()["question"]
    assert commitment["measure"] == question_body()["promised_action"]
    assert (commitment["responsible_unit"], commitment["responsible_person"]) == ("执法支队", "市生态环境局局长")
    assert commitment["deadline"] == "2021-12-31"
    assert commitment["inquiry_question_id"] == question["id"]
    assert commitment["evidence"] == [{"kind": "inquiry_question", "reference": question["id"], "label": "专题询问"}]
    # A question without a promise adds no commitment.
    plain = tracking.client.post(f"/v1/cases/{case['id']}/inquiry-questions",
                                 json=question_body(asker_type="npc_deputy", promised_action=None, promised_deadline=None))
    assert plain.status_code == 201 and plain.json()["commitment_id"] is None
    assert len(tracking.client.get(f"/v1/cases/{case['id']}/inquiry-questions").json()["items"]) == 2
    assert len(tracking.client.get("/v1/commitments").json()["items"]) == 1


def test_a_promise_due_before_the_selection_records_neither_question_nor_commitment(tracking) -> None:
    case = open_case(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/inquiry-questions", json=question_body(promised_deadline="2021-01-31"))
    assert r.status_code == 422
    assert r.json()["type"] == "urn:pingyi:problem:deadline-before-selection"
    assert tracking.client.get(f"/v1/cases/{case['id']}/inquiry-questions").json()["items"] == []
    assert tracking.client.get("/v1/commitments").json()["items"] == []


def test_a_promise_without_deadline_is_refused(tracking) -> None:
    case = open_case(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/inquiry-questions", json=question_body(promised_deadline=None))
    assert r.status_code == 422 and r.json()["type"] == "urn:pingyi:problem:inconsistent-request"


# --- escalation --------------------------------------------------------------------


def two_unsatisfied(h, policy: str = "admonition_talk"):
    handler = vote_marked_unsatisfied_handler(45, "专项调研组", policy)
    first = marked_unsatisfied(DEPT)
    second = marked_unsatisfied(DEPT, unsatisfied_round=2, vote_round=2, meeting_date=dt.date(2021, 10, 28))
    deliver(h, handler, first)
    deliver(h, handler, second)
    return handler, second


def test_a_second_unsatisfied_applies_the_policy_as_a_recorded_step(tracking) -> None:
    case = open_case(tracking)
    handler, second = two_unsatisfied(tracking)
    steps = tracking.client.get(f"/v1/cases/{case['id']}/escalation-steps").json()["items"]
    assert [(s["unsatisfied_round"], s["measure"], s["measure_label"], s["decided_by"], s["source"]) for s in steps] == [
        (2, "admonition_talk", "约谈", ESCALATION_POLICY_DECIDER, f"event:{second.event_id}")]
    detail = tracking.client.get(f"/v1/cases/{case['id']}").json()
    assert (detail["stage"], detail["stage_label"]) == ("escalated", "不满意后问责处理中")
    # Delivered again, and announced again under a new event id: still one step.
    deliver(tracking, handler, second)
    deliver(tracking, handler, marked_unsatisfied(DEPT, unsatisfied_round=2, vote_round=2, meeting_date=dt.date(2021, 10, 28)))
    assert len(tracking.client.get(f"/v1/cases/{case['id']}/escalation-steps").json()["items"]) == 1
    public = tracking.client.get(f"/v1/public/cases/{case['id']}").json()
    assert [s["measure_label"] for s in public["escalation"]] == ["约谈"]


def test_the_year_plans_policy_outranks_the_setting(tracking) -> None:
    """scoring's composite ranking carries the plan's escalation policy; tracking applies it."""
    from shared.messaging.events import ScoreComputed

    case = open_case(tracking)
    ranking = ScoreComputed(computation_id="c-1", kind="composite_ranking", plan_id="plan-2021", evaluation_year=2021,
                            batch=1, seats=6, ranking=[], slate=[], escalation_policy="interpellation_motion")
    deliver(tracking, record_grade, ranking.envelope(producer="scoring", key="plan-2021"))
    _, second = two_unsatisfied(tracking, policy="admonition_talk")  # the setting says 约谈
    steps = tracking.client.get(f"/v1/cases/{case['id']}/escalation-steps").json()["items"]
    assert [(s["measure"], s["decided_by"]) for s in steps] == [("interpellation_motion", "2021年评议工作方案（plan-2021）")]


def test_the_app_applies_the_configured_policy(tracking) -> None:
    app = create_app(settings_for("tracking", tracking.db.url, escalation_policy="interpellation_motion"), db=tracking.db)
    handler = app.state.runtime.handlers["vote.marked_unsatisfied"]
    deliver(tracking, handler, marked_unsatisfied(DEPT))
    deliver(tracking, handler, marked_unsatisfied(DEPT, unsatisfied_round=2, vote_round=2))
    [case] = tracking.client.get("/v1/cases").json()["items"]
    assert [s["measure"] for s in tracking.client.get(f"/v1/cases/{case['id']}/escalation-steps").json()["items"]] == ["interpellation_motion"]


def test_a_step_needs_a_second_unsatisfied_vote(tracking) -> None:
    case = open_case(tracking)
    deliver(tracking, vote_marked_unsatisfied_handler(45, "专项调研组"), marked_unsatisfied(DEPT))
    r = tracking.client.post(f"/v1/cases/{case['id']}/escalation-steps", json={"measure": "admonition_talk", "decided_by": "主任会议"})
    assert r.status_code == 409
    assert r.json()["type"] == "urn:pingyi:problem:escalation-needs-second-unsatisfied"
    assert tracking.client.get(f"/v1/cases/{case['id']}/escalation-steps").json()["items"] == []


def test_steps_decided_by_people_are_recorded_with_who_and_when(tracking) -> None:
    case = open_case(tracking)
    two_unsatisfied(tracking)
    r = tracking.client.post(f"/v1/cases/{case['id']}/escalation-steps", json={
        "measure": "disciplinary_recommendation", "decided_by": "常委会主任会议", "decided_at": "2021-11-05T02:00:00Z", "note": "建议依法处理"})
    assert r.status_code == 201, r.text
    step = r.json()
    assert (step["decided_by"], step["decided_at"], step["measure_label"]) == ("常委会主任会议", "2021-11-05T02:00:00Z", "建议有关机关依法处理")
    assert step["source"].startswith(f"http:POST /v1/cases/{case['id']}/escalation-steps")
    dup = tracking.client.post(f"/v1/cases/{case['id']}/escalation-steps", json={"measure": "admonition_talk", "decided_by": "主任会议"})
    assert dup.status_code == 409 and dup.json()["type"] == "urn:pingyi:problem:escalation-step-exists"


def test_an_interpellation_needs_five_distinct_sponsors_and_records_the_answer(tracking) -> None:
    case = open_case(tracking)
    two_unsatisfied(tracking, policy="interpellation_motion")
    four = ["张一", "李二", "王三", "赵四", "张一"]
    r = tracking.client.post(f"/v1/cases/{case['id']}/interpellation-motions",
                             json={"subject": "关于大气污染治理不力的质询案", "sponsors": four, "filed_on": "2021-11-01"})
    assert r.status_code == 422
    body = r.json()
    assert (body["type"], body["rule"], body["sponsors"], body["required"]) == (
        "urn:pingyi:problem:interpellation-too-few-sponsors", "interpellation_needs_5_sponsors", 4, 5)
    assert tracking.client.get(f"/v1/cases/{case['id']}/interpellation-motions").json()["items"] == []

    five = ["张一", "李二", "王三", "赵四", "孙五"]
    motion = tracking.client.post(f"/v1/cases/{case['id']}/interpellation-motions",
                                  json={"subject": "关于大气污染治理不力的质询案", "sponsors": five, "filed_on": "2021-11-01"})
    assert motion.status_code == 201, motion.text
    motion = motion.json()
    [step] = tracking.client.get(f"/v1/cases/{case['id']}/escalation-steps").json()["items"]
    assert (motion["sponsors"], motion["escalation_step_id"], motion["answer"]) == (five, step["id"], None)
    answer = {"answered_by": "市生态环境局局长", "answered_on": "2021-11-20", "answer": "已制定专项整改方案"}
    r = tracking.client.post(f"/v1/interpellation-motions/{motion['id']}/answer", json=answer)
    assert r.status_code == 200 and r.json()["answer"] == "已制定专项整改方案"
    again = tracking.client.post(f"/v1/interpellation-motions/{motion['id']}/answer", json=answer)
    assert again.status_code == 409 and again.json()["type"] == "urn:pingyi:problem:interpellation-answered"


# --- closing ---------------------------------------------------------------------


def test_a_case_closes_only_on_a_passing_grade_with_every_commitment_finished(tracking) -> None:
    case = open_case(tracking)
    done = add_commitment(tracking, case["id"])
    dropped = add_commitment(tracking, case["id"], problem="另一问题")
    close = lambda: tracking.client.post(f"/v1/cases/{case['id']}/close", json={"closed_by": "常委会办公厅"})  # noqa: E731

    no_grade = close()
    assert no_grade.status_code == 409
    assert (no_grade.json()["type"], no_grade.json()["rule"]) == (
        "urn:pingyi:problem:case-close-needs-passing-grade", "latest_grade_satisfied_or_basically_satisfied")
    deliver(tracking, record_grade, graded(DEPT, "satisfied"))
    open_left = close()
    assert open_left.status_code == 409
    assert (open_left.json()["type"], open_left.json()["open_commitments"]) == ("urn:pingyi:problem:case-close-open-commitments", 2)
    assert tracking.client.get(f"/v1/cases/{case['id']}").json()["status"] == "open"

    tracking.client.post(f"/v1/commitments/{done['id']}/complete", json={"completed_on": "2021-06-01", "evidence": "验收通过"})
    tracking.client.post(f"/v1/commitments/{dropped['id']}/close", json={"reason": "并入第一项整改"})
    closed = close()
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["stage"], closed.json()["closed_by"]) == ("closed", "closed", "常委会办公厅")
    # A closed case takes no more commitments and cannot close twice.
    more = tracking.client.post(f"/v1/cases/{case['id']}/commitments", json=commitment_body())
    assert more.status_code == 409 and more.json()["type"] == "urn:pingyi:problem:case-closed"
    assert close().status_code == 409
    status = tracking.client.get(f"/v1/public/cases/{case['id']}/status").json()
    assert (status["stage_label"], status["next_deadline"], status["last_change"]["kind"]) == ("已结案", None, "case_closed")
