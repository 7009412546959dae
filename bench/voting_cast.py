"""Casting a vote: 60 members casting at once on Postgres, p50 and p99 of one
vote request, over real HTTP to uvicorn on 127.0.0.1.

Each round: a fresh satisfaction ballot on a 60-member meeting, opened; the 60
cast requests are released together; every request's latency is kept; the
ballot is closed and its tally checked against the 60 receipts.

    .venv/bin/python bench/voting_cast.py --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.voting_common import percentile, postgres_database, voting_server  # noqa: E402

MEMBERS = 60
CHOICES = ("satisfied", "basically_satisfied", "unsatisfied")


async def one_round(client: httpx.AsyncClient, meeting_id: str, department: str) -> list[float]:
    ballot = (await client.post(f"/v1/meetings/{meeting_id}/ballots", json={"department": department, "evaluation_year": 2021})).json()
    assert (await client.post(f"/v1/ballots/{ballot['id']}/open")).status_code == 200
    go = asyncio.Event()

    async def cast(i: int) -> float:
        await go.wait()
        started = time.perf_counter()
        resp = await client.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": f"m{i:02d}", "choice": CHOICES[i % 3]})
        elapsed = time.perf_counter() - started
        assert resp.status_code == 201, resp.text
        return elapsed

    tasks = [asyncio.create_task(cast(i)) for i in range(1, MEMBERS + 1)]
    await asyncio.sleep(0.05)
    go.set()
    timings = await asyncio.gather(*tasks)
    closed = (await client.post(f"/v1/ballots/{ballot['id']}/close")).json()
    assert closed["votes_cast"] == MEMBERS and sum(r["votes"] for r in closed["results"]) == MEMBERS, closed
    return list(timings)


async def run(url: str, rounds: int) -> list[float]:
    limits = httpx.Limits(max_connections=MEMBERS, max_keepalive_connections=MEMBERS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        members = [{"member_id": f"m{i:02d}", "name": f"委员{i:02d}"} for i in range(1, MEMBERS + 1)]
        meeting = (await client.post("/v1/meetings", json={"number": "基准测试会议", "held_on": "2021-02-26", "members": members})).json()
        await client.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": [m["member_id"] for m in members]})
        await one_round(client, meeting["id"], "预热部门")  # warm-up: connections, pools, caches
        timings: list[float] = []
        for r in range(rounds):
            timings += await one_round(client, meeting["id"], f"部门{r:03d}")
        return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=20)
    args = parser.parse_args()
    with postgres_database("pingyi_bench_cast") as database_url, voting_server(
        database_url, workers=args.workers, pool_size=args.pool_size
    ) as url:
        timings = asyncio.run(run(url, args.rounds))
    ms = [t * 1000 for t in timings]
    print(f"vote requests: {len(ms)} ({args.rounds} rounds x {MEMBERS} members at once), uvicorn workers={args.workers}, pool={args.pool_size}")
    print(f"p50 {percentile(ms, 0.50):.1f} ms  p90 {percentile(ms, 0.90):.1f} ms  p99 {percentile(ms, 0.99):.1f} ms  "
          f"max {max(ms):.1f} ms  mean {statistics.mean(ms):.1f} ms")


if __name__ == "__main__":
    main()
