"""Public online vote throughput: 200 concurrent clients casting votes, each with its
own identity, against the voting app under uvicorn on 127.0.0.1, and a bare
FastAPI endpoint (bench/bare_app.py) driven the same way in the same run as the
baseline. Afterwards the stored rows are counted: every accepted vote must be
there (nothing lost), no identity twice, and the audit chain's batch entries
must name exactly the stored vote rows.

Load generator: wrk with a Lua script giving every request a fresh identity and
a client address (X-Forwarded-For, trusted from 127.0.0.1 by uvicorn as from a
proxy) shared by a few requests only, so the production rate limits stay on
(10 per identity, 600 per address per minute) and are counted as in production.
`--one-address` sends everything from 127.0.0.1 instead, with the address limit
raised out of the way.

    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200              # Postgres
    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200 --workers 2
    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200 --sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import cpu_seconds, server_processes, uvicorn_server, wrk  # noqa: E402
from bench.voting_common import operator_key, postgres_database, voting_server  # noqa: E402

OPTIONS = ["市住房和城乡建设局", "市生态环境局", "市教育局", "市卫生健康委员会", "市交通运输局", "市公安局", "市民政局", "市人力资源和社会保障局"]
VOTE_ACTION = "POST /v1/public-polls/{poll_id}/votes"

VOTE_SCRIPT = r"""
-- globals: wrk reads them per thread with thread:get
counter = 0
thread_id = 0
accepted = 0
refused = 0
local statuses = {}
local next_id = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local identity = string.format("%(run)s%%02d%%08d", thread_id, counter)
  local body = '{"identity":"' .. identity .. '","choices":["%(a)s","%(b)s"]}'
  local headers = {["Content-Type"] = "application/json"}
  if %(spread)s then
    -- a new client address every 4 votes: far below 600 a minute each
    local n = math.floor(counter / 4)
    headers["X-Forwarded-For"] = string.format("10.%%d.%%d.%%d", thread_id, math.floor(n / 256) %% 256, n %% 256)
  end
  return wrk.format("POST", "%(path)s", headers, body)
end

function response(status, headers, body)
  if status == 201 then accepted = accepted + 1 else refused = refused + 1 end
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local a, r = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    r = r + t:get("refused")
  end
  io.write(string.format("ACCEPTED %%d REFUSED %%d\n", a, r))
end
"""


def wrk_script(script: str, url: str, *, seconds: int, connections: int, threads: int) -> str:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name, url]
    done = subprocess.run(command, capture_output=True, text=True)
    os.unlink(handle.name)
    if done.returncode != 0:
        sys.exit(f"wrk failed: {done.stderr or done.stdout}")
    return done.stdout


@contextmanager
def sqlite_database(prefix: str):
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        yield f"sqlite:///{directory}/voting.db"


def wait_until_stable(engine, poll_id: str) -> None:
    """The server may still be finishing requests wrk gave up on: wait until the rows stop changing."""
    last, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 2:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT count(*) FROM public_votes WHERE poll_id = :p"), {"p": poll_id}).scalar()
        if current != last:
            last, stable_since = current, time.monotonic()
        time.sleep(0.25)


def count_rows(engine, poll_id: str) -> dict:
    with engine.connect() as conn:
        one = {"p": poll_id}
        voters = conn.execute(text("SELECT count(*) FROM public_voters WHERE poll_id = :p"), one).scalar()
        distinct = conn.execute(text("SELECT count(DISTINCT identity_hash) FROM public_voters WHERE poll_id = :p"), one).scalar()
        vote_ids = set(conn.execute(text("SELECT id FROM public_votes WHERE poll_id = :p"), one).scalars())
        details = conn.execute(text("SELECT detail FROM audit_log WHERE action = :a"), {"a": VOTE_ACTION}).scalars().all()
    audited: list[str] = []
    for detail in details:
        batch = json.loads(detail)["batch"].get(poll_id)
        if batch:
            audited += batch["vote_ids"]
    return {"voters": voters, "distinct": distinct, "votes": len(vote_ids), "batches": len(details),
            "audited_match": len(audited) == len(set(audited)) and set(audited) == vote_ids}


def run_votes(url: str, database_url: str, args, *, run: str) -> dict:
    key = operator_key(database_url)
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
        meeting = client.post("/v1/meetings", json={"number": f"基准测试会议{run}", "held_on": "2022-02-26",
                                                    "members": [{"member_id": "m01", "name": "委员01"}]})
        assert meeting.status_code == 201, meeting.text
        now = dt.datetime.now(dt.UTC)
        poll = client.post("/v1/public-polls", json={
            "meeting_id": meeting.json()["id"], "evaluation_year": 2022, "options": OPTIONS, "max_choices": 2,
            "opens_at": (now - dt.timedelta(minutes=1)).isoformat(), "closes_at": (now + dt.timedelta(hours=1)).isoformat(),
        })
        assert poll.status_code == 201, poll.text
        poll = poll.json()
    path = f"/v1/public-polls/{poll['id']}/votes"
    fields = {"a": OPTIONS[0], "b": OPTIONS[3], "path": path, "spread": "false" if args.one_address else "true"}
    # Warm-up (its own identities): connections, pools, compiled statements.
    wrk_script(VOTE_SCRIPT % (fields | {"run": "2"}), url + path, seconds=2, connections=args.connections, threads=args.threads)
    engine = create_engine(database_url)
    wait_until_stable(engine, poll["id"])
    before = count_rows(engine, poll["id"])
    pids = server_processes(url)
    cpu_before = cpu_seconds(pids)
    out = wrk_script(VOTE_SCRIPT % (fields | {"run": "1"}), url + path, seconds=args.seconds, connections=args.connections,
                     threads=args.threads)
    cpu_used = cpu_seconds(pids) - cpu_before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    accepted, refused = (int(x) for x in re.search(r"ACCEPTED (\d+) REFUSED (\d+)", out).groups())
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    wait_until_stable(engine, poll["id"])
    after = count_rows(engine, poll["id"])
    engine.dispose()
    return {"rps": rps, "accepted": accepted, "refused": refused, "p50": p50.group(1) if p50 else "?", "cpu": cpu_used,
            "p99": p99.group(1) if p99 else "?", "before": before, "after": after, "raw": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers for both apps")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of Postgres")
    parser.add_argument("--one-address", action="store_true", help="every vote from 127.0.0.1 (address limit raised)")
    parser.add_argument("--pool-size", type=int, default=5, help="VOTING_DB_POOL_SIZE")
    parser.add_argument("--raw", action="store_true", help="print wrk's own output too")
    parser.add_argument("--rate-limit-storage", default="memory://",
                        help="VOTING_RATE_LIMIT_STORAGE_URI: memory:// (per process) or redis://host:port/db (shared)")
    args = parser.parse_args()

    with uvicorn_server(["bench.bare_app:app", "--workers", str(args.workers)], ready_path="/bare") as bare_url:
        wrk(bare_url + "/bare", seconds=2, connections=args.connections, threads=args.threads)  # warm-up
        pids = server_processes(bare_url)
        cpu_before = cpu_seconds(pids)
        baseline = wrk(bare_url + "/bare", seconds=args.seconds, connections=args.connections, threads=args.threads)
        baseline_cpu = cpu_seconds(pids) - cpu_before

    env = {"VOTING_RATE_LIMIT_STORAGE_URI": args.rate_limit_storage}
    if args.one_address:
        env["VOTING_RATE_LIMIT_PUBLIC_VOTE_IP"] = "1000000000/minute"
    database = sqlite_database("pingyi_bench_public") if args.sqlite else postgres_database("pingyi_bench_public")
    with database as database_url:
        with voting_server(database_url, workers=args.workers, pool_size=args.pool_size, extra_env=env) as url:
            result = run_votes(url, database_url, args, run=uuid.uuid4().hex[:6])

    backend = "SQLite" if args.sqlite else "Postgres"
    print(f"{backend}; {args.connections} connections, {args.seconds} s, wrk threads {args.threads}, "
          f"uvicorn workers {args.workers}, {'one address' if args.one_address else 'addresses spread (X-Forwarded-For)'}, "
          f"rate limits in {args.rate_limit_storage}")
    served = baseline["rps"] * args.seconds
    print(f"baseline bare FastAPI GET: {baseline['rps']:.0f} req/s, p99 {baseline['p99_ms']} ms, errors {baseline['errors']}, "
          f"server CPU {baseline_cpu / served * 1000 if served else 0:.3f} ms per request")
    accepted = result["accepted"]
    print(f"public vote: {accepted / args.seconds:.0f} accepted votes/s ({result['rps']:.0f} responses/s; "
          f"accepted {accepted}, refused {result['refused']}), p50 {result['p50']}, p99 {result['p99']}, "
          f"server CPU {result['cpu'] / accepted * 1000 if accepted else 0:.3f} ms per accepted vote")
    before, after = result["before"], result["after"]
    voters, votes = after["voters"] - before["voters"], after["votes"] - before["votes"]
    batches = after["batches"] - before["batches"]
    print(f"rows written in the run: voters {voters}, votes {votes}; accepted responses {result['accepted']} "
          f"(rows beyond it: requests still in flight when wrk stopped); {batches} batches, "
          f"{votes / batches if batches else 0:.1f} votes per batch")
    print(f"whole poll: voters {after['voters']} (distinct identities {after['distinct']}), votes {after['votes']}; "
          f"audit batch entries name exactly the vote rows: {after['audited_match']}")
    lost = result["accepted"] - min(voters, votes)
    ok = lost <= 0 and after["voters"] == after["votes"] == after["distinct"] and after["audited_match"]
    print("nothing lost" if ok else f"MISMATCH: lost {lost}")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.raw:
        print(result["raw"])


if __name__ == "__main__":
    main()
