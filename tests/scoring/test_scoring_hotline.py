"""12345 work-order import (CSV/JSONL, UTF-8/GB18030, idempotent, rejected rows),
department aliases and the net-complaint metric over HTTP, on SQLite and Postgres."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time

from sqlalchemy import text

from bench.scoring_workorders import COLUMNS, work_orders

EDU, CIV = "淄博市教育局", "淄博市民政局"


def csv_text(rows: list[list[str]], header: list[str] = COLUMNS) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


def order(order_id, kind="投诉", final=EDU, *, valid="是", duplicate="", unfounded="否", returned="", received="2021-03-01 09:00:00"):
    return [order_id, received, "电话", kind, final, returned, final, valid, duplicate, unfounded, "满意"]


def post(h, body: bytes, fmt="csv", encoding="auto"):
    return h.client.post(f"/v1/hotline/work-order-imports?format={fmt}&encoding={encoding}", content=body, headers={"content-type": "text/csv"})


def net(h, **params) -> dict:
    r = h.client.get("/v1/hotline/net-complaints", params=params)
    assert r.status_code == 200, r.text
    return {d["department"]: d for d in r.json()["departments"]} | {"_unmatched": r.json()["unmatched"]}


def alias(h, name, department):
    assert h.client.post("/v1/hotline/department-aliases", json={"alias": name, "department": department}).status_code == 201


EACH_EXCLUSION = [
    order("GD1", "投诉"),
    order("GD2", "举报"),
    order("GD3", "咨询"),
    order("GD4", "意见建议"),
    order("GD5", "求助"),
    order("GD6", valid="否"),
    order("GD7", duplicate="GD1"),
    order("GD8", unfounded="是"),
    # Sent first to 民政局, returned, finished by 教育局.
    order("GD9", returned=CIV),
]


def test_each_exclusion_is_counted(scoring):
    alias(scoring, EDU, EDU)
    alias(scoring, CIV, CIV)
    r = post(scoring, csv_text(EACH_EXCLUSION).encode())
    assert r.status_code == 200, r.text
    assert r.json() | {"rejections": []} == {"accepted": 9, "updated": 0, "unchanged": 0, "rejected": 0, "rejections": [], "unmatched_departments": []}
    result = net(scoring)
    assert result[EDU]["net_complaints"] == 3  # GD1, GD2, GD9
    assert result[EDU]["received"] == 9
    assert result[EDU]["excluded"] == {
        "consultation": 1, "suggestion": 1, "help": 1, "invalid": 1, "duplicate": 1, "unfounded": 1, "redispatched_away": 0,
    }
    assert result[CIV]["net_complaints"] == 0
    assert result[CIV]["excluded"]["redispatched_away"] == 1
    # A period that excludes every order
    assert net(scoring, start="2021-04-01T00:00:00")["_unmatched"] == []
    assert EDU not in net(scoring, start="2021-04-01T00:00:00")


def test_reimport_changes_nothing_and_a_changed_row_updates(scoring):
    alias(scoring, EDU, EDU)
    body = csv_text(EACH_EXCLUSION).encode()
    post(scoring, body)
    again = post(scoring, body).json()
    assert (again["accepted"], again["updated"], again["unchanged"]) == (0, 0, 9)
    assert net(scoring)[EDU]["net_complaints"] == 3
    changed = [*EACH_EXCLUSION[:-1], order("GD9", "咨询", returned=CIV), order("GD10")]
    result = post(scoring, csv_text(changed).encode()).json()
    assert (result["accepted"], result["updated"], result["unchanged"]) == (1, 1, 8)
    edu = net(scoring)[EDU]
    assert edu["net_complaints"] == 3  # GD9 became a consultation, GD10 is new
    assert edu["excluded"]["consultation"] == 2


def test_gb18030_input_and_jsonl(scoring):
    alias(scoring, EDU, EDU)
    body = csv_text([order("GD1"), order("GD2", "咨询")]).encode("gb18030")
    r = post(scoring, body)
    assert r.status_code == 200 and r.json()["accepted"] == 2
    assert net(scoring)[EDU]["net_complaints"] == 1
    lines = [json.dumps(dict(zip(COLUMNS, order("GD3", "举报"))), ensure_ascii=False)]
    r = post(scoring, ("\n".join(lines) + "\n").encode("gb18030"), fmt="jsonl", encoding="gb18030")
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert net(scoring)[EDU]["net_complaints"] == 2


def test_bad_rows_are_reported_and_do_not_stop_the_import(scoring):
    rows = [
        order("GD1"),
        order("GD2", "闲聊"),
        order("GD3", received="2021-13-45 99:00"),
        order("", "投诉"),
        order("GD5", valid="也许"),
        ["GD6", "2021-03-01 09:00:00"],
        order("GD7"),
    ]
    r = post(scoring, csv_text(rows).encode())
    assert r.status_code == 200
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 5)
    assert [(x["line"], x["order_id"]) for x in body["rejections"]] == [(3, "GD2"), (4, "GD3"), (5, None), (6, "GD5"), (7, "GD6")]
    assert "request_type" in body["rejections"][0]["reason"]
    assert "received_at" in body["rejections"][1]["reason"]


def test_a_field_over_the_csv_limit_is_a_rejected_row_not_a_failed_import(scoring):
    """Issue 13: a 200,000-character field (the csv module stops at 131,072) is
    one rejected row with its line; the rows around it are imported."""
    rows = [order("GD1"), order("GD2", final="局" * 200_000), order("GD3")]
    r = post(scoring, csv_text(rows).encode())
    assert r.status_code == 200
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["rejections"][0]["line"] == 3 and "field larger than field limit" in body["rejections"][0]["reason"]


def test_whole_file_refusals_write_nothing(scoring):
    r = post(scoring, csv_text([order("GD1")], header=["order_id", "channel"]).encode()[:60])
    assert r.status_code == 422 and r.json()["type"] == "urn:pingyi:problem:missing-columns"
    # Declared UTF-8, actually GB18030: refused, and the rows before the bad bytes are not kept.
    body = csv_text([order("GD1", final="ascii-dept"), order("GD2")]).encode("gb18030")
    r = post(scoring, body, encoding="utf-8")
    assert r.status_code == 422 and r.json()["type"] == "urn:pingyi:problem:wrong-encoding"
    assert net(scoring) == {"_unmatched": []}


def test_unmatched_names_are_listed_until_an_alias_maps_them(scoring):
    r = post(scoring, csv_text([order("GD1", final="市教育局"), order("GD2", final="市教育局"), order("GD3", final=EDU)]).encode())
    assert r.json()["unmatched_departments"] == ["市教育局", EDU]
    assert scoring.client.get("/v1/hotline/unmatched-departments").json()["items"] == [{"name": "市教育局", "orders": 2}, {"name": EDU, "orders": 1}]
    assert net(scoring)["_unmatched"] == [{"name": "市教育局", "orders": 2}, {"name": EDU, "orders": 1}]
    alias(scoring, "市教育局", EDU)
    alias(scoring, EDU, EDU)
    assert net(scoring)[EDU]["net_complaints"] == 3
    assert scoring.client.get("/v1/hotline/unmatched-departments").json()["items"] == []
    r = scoring.client.post("/v1/hotline/department-aliases", json={"alias": "市教育局", "department": CIV})
    assert r.status_code == 409 and r.json()["type"] == "urn:pingyi:problem:alias-taken"
    assert [a["alias"] for a in scoring.client.get("/v1/hotline/department-aliases").json()["items"]] == sorted(["市教育局", EDU])


def test_synthetic_orders_have_realistic_shares():
    rows = list(work_orders(20_000, seed=3))
    share = sum(r["request_type"] == "咨询" for r in rows) / len(rows)
    assert 0.55 < share < 0.61
    assert 0.02 < sum(bool(r["duplicate_of"]) for r in rows) / len(rows) < 0.06
    assert 0.04 < sum(bool(r["returned_by"]) for r in rows) / len(rows) < 0.08


def test_cli_imports_a_generated_file(tmp_path, backend, fresh_database_url):
    from bench.scoring_workorders import write
    from shared.ops.migrations import upgrade

    url = fresh_database_url(backend, "hotline")
    upgrade("scoring", url)
    path = tmp_path / "orders.csv"
    write(path, 12_000, encoding="gb18030")  # over a MB: parsed in a thread beside the COPYs on Postgres
    cmd = [sys.executable, "-m", "services.scoring.hotline.cli", "import", str(path), "--database-url", url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["accepted"], summary["rejected"]) == (12_000, 0)
    again = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout)
    assert (again["accepted"], again["updated"], again["unchanged"]) == (0, 0, 12_000)
    # A file refused as a whole: the problem on stderr, exit code 1, nothing written.
    bad = tmp_path / "bad.csv"
    bad.write_bytes(path.read_bytes().replace(b"received_at", b"received", 1) + b"GD-new,2021-03-01 09:00:00\n")
    refused = subprocess.run([*cmd[:4], str(bad), *cmd[5:]], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and json.loads(refused.stderr)["type"] == "urn:pingyi:problem:missing-columns"
    from shared.db import Database

    db = Database(url)
    try:
        with db.session() as session:
            assert session.scalar(text("SELECT count(*) FROM work_orders")) == 12_000
    finally:
        db.dispose()
    # The CLI's summary has the endpoint's shape (ImportSummaryOut), a rejected row included.
    from services.scoring.hotline.schemas import ImportSummaryOut, RejectedRowOut

    odd = tmp_path / "odd.csv"
    odd.write_text(csv_text([order("GD-ok"), order("GD-odd", kind="闲聊")]), encoding="utf-8")
    shaped = json.loads(subprocess.run([*cmd[:4], str(odd), *cmd[5:]], capture_output=True, text=True, timeout=120).stdout)
    assert list(shaped) == list(ImportSummaryOut.model_fields) and list(shaped["rejections"][0]) == list(RejectedRowOut.model_fields)
    assert ImportSummaryOut.model_validate(shaped).model_dump(mode="json") == shaped
    assert (shaped["accepted"], shaped["rejected"], shaped["rejections"][0]["line"], shaped["rejections"][0]["order_id"]) == (1, 1, 3, "GD-odd")


def run_on_a_terminal(cmd: list[str], timeout: float = 120) -> tuple[int, str]:
    """The command's exit code and everything it wrote, run on a pseudo-terminal (as a person runs it)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, nothing else (never back into pytest)
        try:
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child is gone and the terminal closed
                break
            if not data:
                break
            out += data
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_the_cli_shows_its_progress_on_a_terminal(tmp_path, backend, fresh_database_url):
    """The bar is drawn by a thread once the first rows are stored: it shows
    the file's bytes and the rows stored, and the summary follows it."""
    from bench.scoring_workorders import write
    from shared.ops.migrations import upgrade

    url = fresh_database_url(backend, "hotline")
    upgrade("scoring", url)
    path = tmp_path / "orders.csv"
    write(path, 12_000)
    code, shown = run_on_a_terminal([sys.executable, "-m", "services.scoring.hotline.cli", "import", str(path), "--database-url", url])
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # the terminal's colour and cursor codes
    assert code == 0, plain
    assert "导入工单" in plain and "12,000 行" in plain and f"{path.stat().st_size / 1e6:.1f}/{path.stat().st_size / 1e6:.1f} MB" in plain
    assert json.loads(plain[plain.index("{"):])["accepted"] == 12_000


def test_net_complaints_feed_the_composite(scoring):
    alias(scoring, "市教育局", EDU)
    plan = scoring.client.post(
        "/v1/year-plans",
        json={"evaluation_year": 2021, "departments": [EDU, CIV], "batches": [{"batch": 1, "selection_month": 2, "seats": 1, "review_month": 8}]},
    ).json()
    post(scoring, csv_text([order("GD1", final="市教育局"), order("GD2", final=CIV), order("GD3", final=CIV), order("GD4", final=CIV, received="2022-01-05 10:00:00")]).encode())
    url = f"/v1/year-plans/{plan['id']}/batches/1/sources/net_complaints/from-hotline"
    r = scoring.client.post(url, params={"start": "2021-01-01T00:00:00", "end": "2022-01-01T00:00:00"})
    assert r.status_code == 200, r.text
    assert r.json()["inputs"]["figures"]["net_complaints"] == {EDU: 1, CIV: 2}
    assert [(d["department"], d["score"]) for d in r.json()["ranking"]] == [(CIV, 35.0), (EDU, 0.0)]
    assert r.json()["slate"] == [CIV, EDU]
    assert scoring.client.post(url, params={"start": "2021-01-01T00:00:00", "end": "2022-01-01T00:00:00"}).status_code == 204
    assert len(scoring.outbox("score.computed")) == 1
