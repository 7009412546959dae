"""The portal under 50 concurrent readers: a department's page, fully rendered
from tracking's and scoring's public answers, and the chamber board's update
call (the fragment the hall's screen polls), each against the same data
fetched straight from the owning service's public API in the same run.

Everything runs as real processes on 127.0.0.1 (the embedded stack: Tansu,
the three services and the portal, one uvicorn process each); wrk drives each
URL in turn with the same connections and duration. Target: each portal page
at least 50% of its baseline's requests per second.

    apt-get install wrk   # once
    .venv/bin/python bench/portal_pages.py --seconds 10 --connections 50
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import free_port, wrk  # noqa: E402
from shared.ops.embedded import EmbeddedStack  # noqa: E402

DEPARTMENT = "淄博市教育局"
MEMBERS = [{"member_id": f"m{i:02d}", "name": f"委员{i:02d}"} for i in range(1, 61)]


def ok(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


def seed(stack: EmbeddedStack) -> tuple[str, str]:
    """A department with five commitments and their progress; a meeting of 60 with a ballot open and 40 votes in."""
    tracking = httpx.Client(base_url=stack.url("tracking"), headers=stack.operator_headers, timeout=30)
    voting = httpx.Client(base_url=stack.url("voting"), headers=stack.operator_headers, timeout=30)
    case = ok(tracking.post("/v1/cases", json={"department": DEPARTMENT, "evaluation_year": 2021,
                                               "selection_date": "2021-02-26", "batch": 1}))
    for i in range(5):
        commitment = ok(tracking.post(f"/v1/cases/{case['id']}/commitments", json={
            "problem": f"第{i + 1}项问题：群众反映集中的事项", "measure": "制定整改措施，逐月通报进展",
            "responsible_unit": "基础教育科", "responsible_person": "张科长", "deadline": "2021-09-30", "evidence": []}))
        for month in (4, 5, 6):
            ok(tracking.post(f"/v1/commitments/{commitment['id']}/progress", json={
                "reported_on": f"2021-0{month}-10", "text": "按计划推进，已完成阶段任务", "percent_complete": month * 10,
                "attachments": [{"file_name": f"进展{month}.pdf", "content_type": "application/pdf",
                                 "content_base64": base64.b64encode(b"%PDF-1.4").decode()}]}))
    meeting = ok(voting.post("/v1/meetings", json={"number": "第四十八次会议", "held_on": "2021-08-27", "members": MEMBERS}))
    ok(voting.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": [m["member_id"] for m in MEMBERS[:55]]}))
    ballot = ok(voting.post(f"/v1/meetings/{meeting['id']}/ballots", json={"department": DEPARTMENT, "evaluation_year": 2021}))
    ok(voting.post(f"/v1/ballots/{ballot['id']}/open"))
    for member in MEMBERS[:40]:
        token = stack.member_token(member["member_id"], meeting["id"])
        ok(voting.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": member["member_id"], "choice": "satisfied"},
                       headers={"Authorization": f"Bearer {token}"}))
    return case["id"], meeting["id"]


def measure(label: str, url: str, args, *, expect: str) -> dict:
    first = httpx.get(url, timeout=30)
    assert first.status_code == 200 and expect in first.text, (url, first.status_code, first.text[:300])
    wrk(url, seconds=2, connections=args.connections)  # warm-up
    result = wrk(url, seconds=args.seconds, connections=args.connections)
    assert result["errors"] == 0, result["raw"]
    print(f"{label:46} {result['rps']:8.0f} req/s   p99 {result['p99_ms']:7.1f} ms   ({len(first.content):,} bytes)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    print("load average before:", os.getloadavg())

    with tempfile.TemporaryDirectory() as tmp:
        # wrk reads from one address: public-read limits it never reaches (their cost is still measured).
        env = {"RATE_LIMIT_PUBLIC_READ": "100000000/minute", "LOG_LEVEL": "WARNING"}
        ports = {s: free_port() for s in ("voting", "scoring", "tracking", "portal")}
        stack = EmbeddedStack(var_dir=Path(tmp) / "var", ports=ports,
                              extra_env={**env, "PORTAL_LOG_LEVEL": "WARNING"}).start(ready_timeout=180)
        try:
            case_id, meeting_id = seed(stack)
            portal, tracking, voting = stack.url("portal"), stack.url("tracking"), stack.url("voting")
            case_api = measure("tracking GET /v1/public/cases/{id} (baseline)", f"{tracking}/v1/public/cases/{case_id}", args,
                               expect="commitments")
            case_page = measure("portal /cases/{id} (the page, rendered)", f"{portal}/cases/{case_id}", args, expect="整改承诺")
            board_api = measure("voting GET /v1/public/meetings/{id}/board (baseline)",
                                f"{voting}/v1/public/meetings/{meeting_id}/board", args, expect="votes_cast")
            board_page = measure("portal /board/{id}/live (the update, rendered)", f"{portal}/board/{meeting_id}/live", args,
                                 expect="已表决")
        finally:
            stack.stop()

    print(f"department page: {case_page['rps'] / case_api['rps']:.0%} of tracking's public API (target >= 50%)")
    print(f"board update:    {board_page['rps'] / board_api['rps']:.0%} of voting's public board (target >= 50%)")
    print("load average after:", os.getloadavg(), subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
