"""`pingyi demo --scale small` against real processes (Tansu and the three
services on free ports): the year plays end to end, its summary is true of what
the APIs hold, and a second run finds the year and changes nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from shared.ops.demo import DEMO_RATE_LIMITS, YEAR, run_demo
from shared.ops.embedded import SERVICES, EmbeddedStack, free_ports
from shared.ops.report import write_report

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"

pytestmark = pytest.mark.broker


@pytest.fixture
def stack(tmp_path):
    # Free ports, not the defaults: another stack on this machine must never receive the demo's year.
    running = EmbeddedStack(var_dir=tmp_path / "var", ports=free_ports(),
                            extra_env=DEMO_RATE_LIMITS).start(ready_timeout=300)
    try:
        yield running
    finally:
        running.stop()


def _all(client: httpx.Client, path: str, **params) -> list[dict]:
    out, cursor = [], None
    while True:
        page = client.get(path, params={"limit": 100, **params, **({"cursor": cursor} if cursor else {})}).json()
        out += page["items"]
        if not (cursor := page.get("next_cursor")):
            return out


def _counts(voting, scoring, tracking) -> dict[str, int]:
    cases = _all(tracking, "/v1/cases")
    commitments = _all(tracking, "/v1/commitments")
    return {
        "meetings": len(_all(voting, "/v1/meetings")),
        "ballots": sum(len(voting.get(f"/v1/meetings/{m['id']}/record").json()["ballots"]) for m in _all(voting, "/v1/meetings")),
        "plans": len(_all(scoring, "/v1/year-plans")),
        "cases": len(cases),
        "commitments": len(commitments),
        "progress": sum(len(tracking.get(f"/v1/commitments/{c['id']}").json()["progress"]) for c in commitments),
        "satisfaction": len(_all(scoring, "/v1/satisfaction-results")),
        "interpellations": sum(len(_all(tracking, f"/v1/cases/{c['id']}/interpellation-motions")) for c in cases),
        "motions": len(_all(tracking, "/v1/motions")),
        "audits": len(_all(tracking, "/v1/audit-cases")),
        "api_keys": len(_all(tracking, "/v1/admin/api-keys")),
    }


def test_small_year_plays_end_to_end_and_again_without_duplicates(stack):
    urls = {s: stack.url(s) for s in SERVICES}
    facts = run_demo(urls, stack.operator_key, "small", Console(width=120, record=True), var_dir=stack.var_dir)
    summary = facts["summary"]
    voting, scoring, tracking = (httpx.Client(base_url=urls[s], headers=stack.operator_headers, timeout=30) for s in SERVICES)

    # The plan: targets and candidates as scoring holds them.
    (plan,) = [p for p in _all(scoring, "/v1/year-plans") if p["evaluation_year"] == YEAR]
    assert summary["评议对象（计划）"] == sum(b["seats"] for b in plan["batches"])
    assert [b["selection_month"] for b in plan["batches"]] == [2, 4] and [b["review_month"] for b in plan["batches"]] == [8, 10]
    assert summary["候选部门"] == len(plan["departments"])

    # The February meeting: the 44th, 2021-02-26; the selection needed a runoff among the tied.
    (february,) = [m for m in _all(voting, "/v1/meetings") if m["number"] == "第四十四次会议"]
    assert february["held_on"] == "2021-02-26"
    record = voting.get(f"/v1/meetings/{february['id']}/record").json()
    selection = [b for b in record["ballots"] if b["kind"] == "competitive_selection"]
    assert [b["round_kind"] for b in selection] == ["main", "runoff"]
    assert summary["第一批差额票决轮次"] == len(selection)
    winners = [w for b in selection for w in b["winners"]]
    assert summary["第一批当选部门"] == "、".join(winners)
    assert len(winners) == plan["batches"][0]["seats"]
    assert record["absent"] and record["nonvoting_attendees"]

    # April: batch 2 chosen from the slate of those not chosen in February, in one round.
    (april,) = [m for m in _all(voting, "/v1/meetings") if m["number"] == "第四十六次会议"]
    assert april["held_on"].startswith("2021-04")
    second = [b for b in voting.get(f"/v1/meetings/{april['id']}/record").json()["ballots"] if b["kind"] == "competitive_selection"]
    slate_2 = voting.get(f"/v1/slates/{plan['id']}", params={"batch": 2}).json()["candidates"]
    assert summary["第二批候选名单"] == len(slate_2) > plan["batches"][1]["seats"] and not set(slate_2) & set(winners)
    winners_2 = [w for b in second for w in b["winners"]]
    assert summary["第二批差额票决轮次"] == len(second) and summary["第二批当选部门"] == "、".join(winners_2)
    assert len(winners_2) == plan["batches"][1]["seats"] and set(winners_2) <= set(slate_2)
    # Every source counted in both batches' rankings, the public vote included.
    for batch in (1, 2):
        inputs = scoring.get(f"/v1/year-plans/{plan['id']}/batches/{batch}/ranking").json()["inputs"]
        assert inputs["missing_sources"] == [] and sum(inputs["figures"]["public"].values()) > 0

    # Tracking: a case per winner; commitments, recorded by the liaisons' department keys; some overdue.
    cases = [c for c in _all(tracking, "/v1/cases") if c["evaluation_year"] == YEAR]
    assert sorted(c["department"] for c in cases) == sorted(winners + winners_2) and summary["评议案件"] == len(cases)
    assert {c["department"]: c["batch"] for c in cases} == {**dict.fromkeys(winners, 1), **dict.fromkeys(winners_2, 2)}
    keys = [k for k in _all(tracking, "/v1/admin/api-keys") if k["department"] and not k["revoked_at"]]
    assert summary["部门联络员密钥"] == len(keys) and {c["department"] for c in cases} <= {k["department"] for k in keys}
    assert all(k["scopes"] == ["tracking:write"] and k["last_used_at"] for k in keys)
    commitments = _all(tracking, "/v1/commitments")
    assert summary["整改承诺"] == len(commitments)
    assert summary["逾期承诺"] == sum(1 for c in commitments if c["overdue"]) > 0
    assert summary["已完成承诺"] == sum(1 for c in commitments if c["status"] == "done") > 0
    details = [tracking.get(f"/v1/commitments/{c['id']}").json() for c in commitments]
    assert summary["整改进展报告"] == sum(len(d["progress"]) for d in details) > 0
    # The liaison, not the operator, recorded them: the audit chain names the department's key.
    audit = _all(tracking, "/v1/admin/audit-log")
    writers = {e["actor"] for e in audit if e["action"] == "POST /v1/cases/{case_id}/commitments"}
    assert writers == {k["name"] for k in keys if k["department"] in {c["department"] for c in cases}}

    # Satisfaction: one department 不满意 in August and again in October, escalated under the plan's policy.
    results = [r for r in _all(scoring, "/v1/satisfaction-results") if r["evaluation_year"] == YEAR]
    unsatisfied = [r for r in results if r["grade"] == "unsatisfied"]
    assert summary["满意度测评"] == len(results) and summary["不满意"] == len(unsatisfied)
    assert len({r["department"] for r in unsatisfied}) == 1 and sorted(r["unsatisfied_round"] for r in unsatisfied) == [1, 2]
    (case,) = [c for c in cases if c["department"] == unsatisfied[0]["department"]]
    detail = tracking.get(f"/v1/cases/{case['id']}").json()
    assert detail["investigations"] and detail["rereports"]
    steps = tracking.get(f"/v1/cases/{case['id']}/escalation-steps").json()["items"]
    assert summary["问责升级措施"] == len(steps) >= 1 and steps[0]["measure"] == plan["escalation_policy"]
    assert summary["专题调研"] == sum(len(tracking.get(f"/v1/cases/{c['id']}").json()["investigations"]) for c in cases)
    # October: the re-report came with an interpellation motion, answered by the department.
    interpellations = _all(tracking, f"/v1/cases/{case['id']}/interpellation-motions")
    assert summary["质询案"] == len(interpellations) == 1 and interpellations[0]["answer"]
    assert len(interpellations[0]["sponsors"]) >= 5
    october = {r["department"] for r in results if r["meeting_date"].startswith("2021-10")}
    assert october == {*winners_2, case["department"]}

    motions = _all(tracking, "/v1/motions")
    assert summary["代表议案"] == len(motions) and summary["代表议案已办结"] == sum(1 for m in motions if m["status"] == "closed") > 0
    assert any(m["redo_count"] for m in motions)  # one reply found 不满意 and done again
    audits = _all(tracking, "/v1/audit-cases")
    findings = [f for a in audits for f in a["findings"]]
    assert summary["审计整改事项"] == len(audits)
    assert summary["审计查出问题已整改"] == f"{sum(1 for f in findings if f['rectified_on'])}/{len(findings)}"

    # Again: nothing duplicated, nothing fails, the same summary.
    before = _counts(voting, scoring, tracking)
    again = run_demo(urls, stack.operator_key, "small", Console(width=120, record=True), var_dir=stack.var_dir)
    after = _counts(voting, scoring, tracking)
    assert after == before
    assert again["summary"] == summary

    # The year report, from the same APIs: Chinese text comes back out of the PDF.
    html = write_report(urls, stack.operator_key, YEAR, stack.var_dir / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "第四十四次会议" in html
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils missing: `make tools` installs it")
    pdf = write_report(urls, stack.operator_key, YEAR, stack.var_dir / "report.pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for name in [*winners, unsatisfied[0]["department"], "评议工作方案", "差额票决结果", steps[0]["measure_label"]]:
        assert name in text, name
    for entry in scoring.get(f"/v1/year-plans/{plan['id']}/batches/1/ranking").json()["ranking"]:
        assert entry["department"] in text
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(stack.var_dir / "page")], check=True)
    (png,) = stack.var_dir.glob("page*.png")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, SCREENSHOTS / "year-report.png")
