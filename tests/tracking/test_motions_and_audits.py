"""Deputies' motions handling (议案办理) and audit-findings rectification
(审计查出问题整改), each from start to close. SQLite and Postgres."""

from __future__ import annotations

import datetime as dt

from services.tracking.domain.supervision import after_feedback, audit_report_due, motion_reply_due


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"urn:pingyi:problem:{slug}"
    return response.json()


def test_due_dates_by_hand() -> None:
    assert motion_reply_due(dt.date(2021, 3, 1), False) == dt.date(2021, 6, 1)
    assert motion_reply_due(dt.date(2021, 3, 1), True) == dt.date(2021, 9, 1)
    assert audit_report_due(dt.date(2021, 8, 31)) == dt.date(2022, 2, 28)
    assert after_feedback("unsatisfied", dt.date(2021, 7, 10)) == ("redo", dt.date(2021, 10, 10))
    assert after_feedback("basically_satisfied", dt.date(2021, 7, 10)) == ("closed", None)


MOTION = {"number": "议案第3号", "title": "关于加强城区停车管理的议案", "sponsors": ["张代表", "李代表", "王代表"],
          "assigned_unit": "淄博市公安局", "assigned_on": "2021-03-01"}


def test_a_motion_from_assignment_through_redo_to_close(tracking) -> None:
    c = tracking.client
    motion = ok(c.post("/v1/motions", json=MOTION), 201)
    assert (motion["status"], motion["status_label"], motion["reply_due_on"], motion["overdue"]) == ("assigned", "办理中", "2021-06-01", True)
    problem(c.post("/v1/motions", json=MOTION), 409, "motion-exists")

    problem(c.post(f"/v1/motions/{motion['id']}/feedback", json={"feedback": "satisfied", "feedback_on": "2021-05-01"}), 409, "motion-not-replied")
    problem(c.post(f"/v1/motions/{motion['id']}/extension", json={"approved_by": "主任会议", "reason": "x", "new_due_on": "2021-05-01"}),
            422, "extension-not-later")
    no_approver = c.post(f"/v1/motions/{motion['id']}/extension", json={"reason": "涉及多部门", "new_due_on": "2021-09-01"})
    assert no_approver.status_code == 422
    extended = ok(c.post(f"/v1/motions/{motion['id']}/extension",
                         json={"approved_by": "常委会主任会议", "reason": "涉及多部门", "new_due_on": "2021-09-01"}))
    assert (extended["reply_due_on"], extended["extension_approved_by"]) == ("2021-09-01", "常委会主任会议")

    replied = ok(c.post(f"/v1/motions/{motion['id']}/reply", json={"replied_on": "2021-06-20", "reply": "新建停车位2000个", "result_code": "B"}))
    assert (replied["status"], replied["result_label"], replied["overdue"]) == ("replied", "所提问题列入计划逐步解决", False)
    problem(c.post(f"/v1/motions/{motion['id']}/reply", json={"replied_on": "2021-06-21", "reply": "x", "result_code": "A"}),
            409, "motion-not-awaiting-reply")

    redo = ok(c.post(f"/v1/motions/{motion['id']}/feedback", json={"feedback": "unsatisfied", "feedback_on": "2021-07-10"}))
    assert (redo["status"], redo["redo_count"], redo["reply_due_on"], redo["feedback_label"]) == ("redo", 1, "2021-10-10", "不满意")
    ok(c.post(f"/v1/motions/{motion['id']}/reply", json={"replied_on": "2021-09-30", "reply": "已建成停车位3000个", "result_code": "A"}))
    closed = ok(c.post(f"/v1/motions/{motion['id']}/feedback", json={"feedback": "satisfied", "feedback_on": "2021-10-08"}))
    assert (closed["status"], closed["result_code"], closed["overdue"]) == ("closed", "A", False)
    assert [h["kind"] for h in closed["history"]] == ["assigned", "extended", "replied", "feedback", "redo", "replied", "feedback"]
    assert all(h["source"].startswith("http:POST /v1/motions") for h in closed["history"])
    problem(c.post(f"/v1/motions/{motion['id']}/reply", json={"replied_on": "2021-10-09", "reply": "x", "result_code": "A"}),
            409, "motion-not-awaiting-reply")
    assert [m["id"] for m in ok(c.get("/v1/motions", params={"status": "closed"}))["items"]] == [motion["id"]]


def test_an_unknown_motion_is_404(tracking) -> None:
    problem(tracking.client.get("/v1/motions/nope"), 404, "not-found")


def test_an_audit_case_from_findings_to_close(tracking) -> None:
    c = tracking.client
    case = ok(c.post("/v1/audit-cases", json={"audit_year": 2020, "audited_unit": "淄博市财政局",
                                                "report_title": "2020年度市级预算执行审计工作报告", "received_on": "2021-08-26"}), 201)
    assert (case["report_due_on"], case["report_overdue"], case["status"]) == ("2022-02-26", True, "open")
    f1 = ok(c.post(f"/v1/audit-cases/{case['id']}/findings", json={"finding": "专项资金闲置1.2亿元", "measure": "统筹盘活"}), 201)
    f2 = ok(c.post(f"/v1/audit-cases/{case['id']}/findings", json={"finding": "政府采购程序不规范", "measure": "完善制度"}), 201)

    problem(c.post(f"/v1/audit-cases/{case['id']}/close", json={"closed_by": "预算工委"}), 409, "audit-close-needs-report")
    report = ok(c.post(f"/v1/audit-cases/{case['id']}/report", json={"submitted_on": "2021-12-20", "summary": "已整改一项"}))
    assert (report["status"], report["report_overdue"]) == ("reported", False)
    problem(c.post(f"/v1/audit-cases/{case['id']}/report", json={"submitted_on": "2021-12-21", "summary": "x"}), 409, "audit-report-submitted")

    ok(c.post(f"/v1/audit-findings/{f1['id']}/rectify", json={"rectified_on": "2021-11-30", "evidence": "资金已收回国库"}))
    problem(c.post(f"/v1/audit-findings/{f1['id']}/rectify", json={"rectified_on": "2021-12-01", "evidence": "x"}), 409, "finding-rectified")
    blocked = problem(c.post(f"/v1/audit-cases/{case['id']}/close", json={"closed_by": "预算工委"}), 409, "audit-close-open-findings")
    assert blocked["open_findings"] == 1
    problem(c.post(f"/v1/audit-findings/{f2['id']}/rectify", json={"rectified_on": "2021-01-01", "evidence": "x"}), 422, "date-before-audit")
    ok(c.post(f"/v1/audit-findings/{f2['id']}/rectify", json={"rectified_on": "2022-01-15", "evidence": "出台采购管理办法"}))
    closed = ok(c.post(f"/v1/audit-cases/{case['id']}/close", json={"closed_by": "预算工委"}))
    assert (closed["status"], closed["closed_by"]) == ("closed", "预算工委")
    assert [f["status"] for f in closed["findings"]] == ["rectified", "rectified"]
    assert [h["kind"] for h in closed["history"]] == [
        "opened", "finding_added", "finding_added", "report_submitted", "finding_rectified", "finding_rectified", "closed"]
    problem(c.post(f"/v1/audit-cases/{case['id']}/findings", json={"finding": "x", "measure": "y"}), 409, "audit-case-closed")
    assert [a["id"] for a in ok(c.get("/v1/audit-cases"))["items"]] == [case["id"]]
