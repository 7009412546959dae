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

from shared.broker import free_port
from shared.demo import YEAR, run_demo
from shared.embedded import SERVICES, EmbeddedStack
from shared.report import write_report

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"

pytestmark = pytest.mark.broker


@pytest.fixture
def stack(tmp_path):
    # Free ports, not the defaults: another stack on this machine must never receive the demo's year.
    running = EmbeddedStack(var_dir=tmp_path / "var", ports={s: free_port() for s in SERVICES}).start(ready_timeout=300)
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
    return {
        "meetings": len(_all(voting, "/v1/meetings")),
        "plans": len(_all(scoring, "/v1/year-plans")),
        "cases": len(_all(tracking, "/v1/cases")),
        "commitments": len(_all(tracking, "/v1/commitments")),
        "satisfaction": len(_all(scoring, "/v1/satisfaction-results")),
        "motions": len(_all(tracking, "/v1/motions")),
        "audits": len(_all(tracking, "/v1/audit-cases")),
    }


def test_small_year_plays_end_to_end_and_again_without_duplicates(stack):
    urls = {s: stack.url(s) for s in SERVICES}
    facts = run_demo(urls, stack.operator_key, "small", Console(width=120, record=True))
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
    assert summary["差额票决轮次"] == len(selection)
    winners = [w for b in selection for w in b["winners"]]
    assert summary["第一批当选部门"] == "、".join(winners)
    assert len(winners) == plan["batches"][0]["seats"]
    assert record["absent"] and record["nonvoting_attendees"]

    # Tracking: a case per winner; commitments, some overdue.
    cases = [c for c in _all(tracking, "/v1/cases") if c["evaluation_year"] == YEAR]
    assert sorted(c["department"] for c in cases) == sorted(winners) and summary["评议案件"] == len(cases)
    commitments = _all(tracking, "/v1/commitments")
    assert summary["整改承诺"] == len(commitments)
    assert summary["逾期承诺"] == sum(1 for c in commitments if c["overdue"]) > 0

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

    assert summary["代表议案"] == len(_all(tracking, "/v1/motions"))
    assert summary["审计整改事项"] == len(_all(tracking, "/v1/audit-cases"))

    # Again: nothing duplicated, nothing fails, the same summary.
    before = _counts(voting, scoring, tracking)
    again = run_demo(urls, stack.operator_key, "small", Console(width=120, record=True))
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
