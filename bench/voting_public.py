"""Public online vote throughput: 200 concurrent clients casting votes, each with its
own identity, against the voting app under uvicorn on 127.0.0.1 (Postgres), and
a bare FastAPI endpoint (bench/bare_app.py) driven the same way in the same run
as the baseline. Afterwards the stored rows are counted: every accepted vote must
be there (nothing lost) and no identity twice.

Load generator: wrk with a Lua script giving every request a fresh identity.

    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import uvicorn_server, wrk  # noqa: E402
from bench.voting_common import postgres_database, voting_server  # noqa: E402

OPTIONS = ["市住房和城乡建设局", "市生态环境局", "市教育局", "市卫生健康委员会", "市交通运输局", "市公安局", "市民政局", "市人力资源和社会保障局"]

VOTE_SCRIPT = r"""
-- globals: wrk reads them per thread with thread:get
counter = 0
thread_id = 0
accepted = 0
refused = 0
local next_id = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local identity = string.format("1%%02d%%08d", thread_id, counter)
  local body = '{"identity":"' .. identity .. '","choices":["%(a)s","%(b)s"]}'
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 201 then accepted = accepted + 1 else refused = refused + 1 end
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
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name, url]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"wrk failed: {done.stderr or done.stdout}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers for both apps")
    args = parser.parse_args()

    with uvicorn_server(["bench.bare_app:app", "--workers", str(args.workers)], ready_path="/bare") as bare_url:
        baseline = wrk(bare_url + "/bare", seconds=args.seconds, connections=args.connections, threads=args.threads)

    limits = {"VOTING_PUBLIC_VOTE_IP_LIMIT": "100000000", "VOTING_PUBLIC_VOTE_IDENTITY_LIMIT": "100"}
    with postgres_database("pingyi_bench_public") as database_url, voting_server(
        database_url, workers=args.workers, pool_size=20, extra_env=limits
    ) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            meeting = client.post("/v1/meetings", json={"number": "基准测试会议", "held_on": "2022-02-26",
                                                        "members": [{"member_id": "m01", "name": "委员01"}]}).json()
            now = dt.datetime.now(dt.UTC)
            poll = client.post("/v1/public-polls", json={
                "meeting_id": meeting["id"], "evaluation_year": 2022, "options": OPTIONS, "max_choices": 2,
                "opens_at": (now - dt.timedelta(minutes=1)).isoformat(), "closes_at": (now + dt.timedelta(hours=1)).isoformat(),
            }).json()
        path = f"/v1/public-polls/{poll['id']}/votes"
        script = VOTE_SCRIPT % {"a": OPTIONS[0], "b": OPTIONS[3], "path": path}
        out = wrk_script(script, url + path, seconds=args.seconds, connections=args.connections, threads=args.threads)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        accepted, refused = (int(x) for x in re.search(r"ACCEPTED (\d+) REFUSED (\d+)", out).groups())
        p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
        engine = create_engine(database_url)
        # The server may still be working through requests wrk gave up on: wait until the rows stop changing.
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 2:
            with engine.connect() as conn:
                current = conn.execute(text("SELECT count(*) FROM public_votes")).scalar()
            if current != last:
                last, stable_since = current, time.monotonic()
            time.sleep(0.25)
        with engine.connect() as conn:
            voters = conn.execute(text("SELECT count(*) FROM public_voters WHERE poll_id = :p"), {"p": poll["id"]}).scalar()
            distinct = conn.execute(text("SELECT count(DISTINCT identity_hash) FROM public_voters WHERE poll_id = :p"), {"p": poll["id"]}).scalar()
            votes = conn.execute(text("SELECT count(*) FROM public_votes WHERE poll_id = :p"), {"p": poll["id"]}).scalar()
        engine.dispose()

    print(f"{args.connections} connections, {args.seconds} s, wrk threads {args.threads}, uvicorn workers {args.workers}")
    print(f"baseline bare FastAPI GET: {baseline['rps']:.0f} req/s, p99 {baseline['p99_ms']} ms, errors {baseline['errors']}")
    print(f"public vote: {accepted / args.seconds:.0f} accepted votes/s ({rps:.0f} responses/s; accepted {accepted}, refused {refused}), "
          f"p99 {p99.group(1) + p99.group(2) if p99 else '?'}")
    print(f"rows afterwards: voters {voters} (distinct identities {distinct}), votes {votes}; "
          f"accepted responses {accepted} (rows beyond it: requests still in flight when wrk stopped)")
    lost = accepted - min(voters, votes)
    print("nothing lost" if lost <= 0 and voters == votes == distinct else f"MISMATCH: lost {lost}")


if __name__ == "__main__":
    main()
