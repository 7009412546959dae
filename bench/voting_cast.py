"""Casting a vote: 60 members casting at once on Postgres, p50 and p99 of one
vote request, over real HTTP to uvicorn on 127.0.0.1.

Setup as the clerk's system does it: an operator API key (voting:admin) creates
the 60-member meeting, checks everyone in and issues each member a token
(POST /v1/meetings/{id}/member-tokens). Each round: a fresh satisfaction ballot,
opened; the 60 cast requests, each with its member's own token, are released
together; every request's latency is kept; the ballot is closed and its tally
checked against the 60 receipts.

Baseline in the same run, on the same server: the same 60 casts sent one at a
time (the server time of one cast with nothing queued), and GET /healthz/live
one at a time (the HTTP stack alone).

The casts are sent by a minimal HTTP/1.1 client (one kept-alive connection per
member, the request bytes built beforehand), so the load generator's own CPU
stays small beside the server's on these two cores; `--client httpx` sends them
with httpx.AsyncClient instead (as the first runs did).

    .venv/bin/python bench/voting_cast.py --rounds 20
    .venv/bin/python bench/voting_cast.py --rounds 20 --workers 2
    .venv/bin/python bench/voting_cast.py --profile 300      # cProfile of the cast endpoint, in process
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import cpu_seconds, server_processes  # noqa: E402
from bench.voting_common import operator_key, percentile, postgres_database, voting_server  # noqa: E402

MEMBERS = 60
CHOICES = ("satisfied", "basically_satisfied", "unsatisfied")
MEMBER_IDS = [f"m{i:02d}" for i in range(1, MEMBERS + 1)]


async def setup(client: httpx.AsyncClient) -> tuple[str, dict[str, dict[str, str]]]:
    """The meeting, everyone checked in, and each member's token headers."""
    members = [{"member_id": m, "name": f"委员{m[1:]}"} for m in MEMBER_IDS]
    meeting = (await client.post("/v1/meetings", json={"number": "基准测试会议", "held_on": "2021-02-26", "members": members}))
    assert meeting.status_code == 201, meeting.text
    meeting_id = meeting.json()["id"]
    assert (await client.post(f"/v1/meetings/{meeting_id}/check-ins", json={"member_ids": MEMBER_IDS})).status_code == 200
    tokens = {}
    for member_id in MEMBER_IDS:
        issued = await client.post(f"/v1/meetings/{meeting_id}/member-tokens", json={"member_id": member_id})
        assert issued.status_code == 200, issued.text
        tokens[member_id] = {"Authorization": f"Bearer {issued.json()['token']}"}
    return meeting_id, tokens


async def new_open_ballot(client: httpx.AsyncClient, meeting_id: str, department: str) -> str:
    ballot = await client.post(f"/v1/meetings/{meeting_id}/ballots", json={"department": department, "evaluation_year": 2021})
    assert ballot.status_code == 201, ballot.text
    assert (await client.post(f"/v1/ballots/{ballot.json()['id']}/open")).status_code == 200
    return ballot.json()["id"]


class RawConnection:
    """One kept-alive HTTP/1.1 connection: write prepared bytes, read one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def vote_request(ballot_id: str, member_id: str, n: int, headers: dict) -> bytes:
    body = json.dumps({"member_id": member_id, "choice": CHOICES[n % 3]}).encode()
    return (f"POST /v1/ballots/{ballot_id}/votes HTTP/1.1\r\nHost: bench\r\nAuthorization: {headers['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


class Caster:
    """Sends casts with httpx or over prepared raw connections (one per member)."""

    def __init__(self, client: httpx.AsyncClient, raw: dict[str, RawConnection] | None) -> None:
        self.client, self.raw = client, raw

    async def cast(self, ballot_id: str, member_id: str, n: int, headers: dict) -> float:
        if self.raw is None:
            started = time.perf_counter()
            resp = await self.client.post(f"/v1/ballots/{ballot_id}/votes",
                                          json={"member_id": member_id, "choice": CHOICES[n % 3]}, headers=headers)
            elapsed = time.perf_counter() - started
            assert resp.status_code == 201, resp.text
            return elapsed
        request = vote_request(ballot_id, member_id, n, headers)
        started = time.perf_counter()
        status, body = await self.raw[member_id].exchange(request)
        elapsed = time.perf_counter() - started
        assert status == 201, body
        return elapsed


async def close_and_check(client: httpx.AsyncClient, ballot_id: str) -> None:
    closed = (await client.post(f"/v1/ballots/{ballot_id}/close")).json()
    assert closed["votes_cast"] == MEMBERS and sum(r["votes"] for r in closed["results"]) == MEMBERS, closed


async def one_round(client: httpx.AsyncClient, caster: Caster, meeting_id: str, tokens: dict, department: str) -> list[float]:
    ballot_id = await new_open_ballot(client, meeting_id, department)
    go = asyncio.Event()

    async def released(n: int, member_id: str) -> float:
        await go.wait()
        return await caster.cast(ballot_id, member_id, n, tokens[member_id])

    tasks = [asyncio.create_task(released(n, m)) for n, m in enumerate(MEMBER_IDS)]
    await asyncio.sleep(0.05)
    go.set()
    timings = await asyncio.gather(*tasks)
    await close_and_check(client, ballot_id)
    return list(timings)


async def sequential(client: httpx.AsyncClient, caster: Caster, meeting_id: str, tokens: dict) -> tuple[list[float], list[float]]:
    """One request at a time: 60 casts on a fresh ballot, and 200 liveness probes."""
    ballot_id = await new_open_ballot(client, meeting_id, "逐一投票部门")
    casts = [await caster.cast(ballot_id, m, n, tokens[m]) for n, m in enumerate(MEMBER_IDS)]
    await close_and_check(client, ballot_id)
    live = []
    for _ in range(200):
        started = time.perf_counter()
        assert (await client.get("/healthz/live")).status_code == 200
        live.append(time.perf_counter() - started)
    return casts, live


async def run(url: str, key: str, rounds: int, raw: bool = True,
              probe: bool = False) -> tuple[list[float], list[float], list[float], float, dict | None]:
    """Latencies of the casts at once, of the casts alone, of the probes alone, the
    server's CPU time per request during the rounds (casts, plus each round's create,
    open and close: 63 requests a round) and, with `probe`, the server's own figures
    for the rounds (bench/voting_probe.py)."""
    limits = httpx.Limits(max_connections=MEMBERS, max_keepalive_connections=MEMBERS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
        meeting_id, tokens = await setup(client)
        connections = {m: await RawConnection.open(url) for m in MEMBER_IDS} if raw else None
        caster = Caster(client, connections)
        try:
            await one_round(client, caster, meeting_id, tokens, "预热部门")  # warm-up: connections, pools, caches
            casts_alone, live = await sequential(client, caster, meeting_id, tokens)
            pids = server_processes(url)
            if probe:
                assert (await client.post("/bench/probe/reset")).status_code == 200
            cpu_before = cpu_seconds(pids)
            timings: list[float] = []
            for r in range(rounds):
                timings += await one_round(client, caster, meeting_id, tokens, f"部门{r:03d}")
            cpu_per_request = (cpu_seconds(pids) - cpu_before) / (rounds * (MEMBERS + 3))
            figures = (await client.get("/bench/probe")).json() if probe else None
        finally:
            for connection in (connections or {}).values():
                connection.close()
        return timings, casts_alone, live, cpu_per_request, figures


def summary(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"{label}: p50 {percentile(ms, 0.50):.1f} ms  p90 {percentile(ms, 0.90):.1f} ms  p99 {percentile(ms, 0.99):.1f} ms  "
            f"max {max(ms):.1f} ms  mean {statistics.mean(ms):.1f} ms")


def profile(database_url: str, casts: int, top: int) -> None:
    """cProfile of the cast endpoint, in process (TestClient, no uvicorn), one cast
    at a time: every thread profiled (the event loop's and the worker threads that
    run sync dependencies and endpoints), plus each SQL statement's count and time."""
    import cProfile
    import collections
    import pstats
    import threading

    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from services.voting.app import create_app
    from services.voting.settings import VotingSettings

    profiles: list[cProfile.Profile] = []
    enabled = threading.Event()

    def start_in_thread(*_):  # the first profile event of each new thread turns its profiler on
        profiler = cProfile.Profile()
        profiles.append(profiler)
        profiler.enable()

    key = operator_key(database_url)
    app = create_app(VotingSettings(database_url=database_url, run_relay=False, run_consumer=False, log_level="WARNING"))
    statements: collections.Counter = collections.Counter()
    statement_time: collections.Counter = collections.Counter()

    @event.listens_for(app.state.runtime.db.engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    @event.listens_for(app.state.runtime.db.engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        if enabled.is_set():
            words = " ".join(statement.split()[:4])[:60]
            statements[words] += 1
            statement_time[words] += time.perf_counter() - conn.info["bench_started"]

    threading.setprofile(start_in_thread)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        members = [{"member_id": f"p{i:04d}", "name": "委员"} for i in range(casts)]
        meeting = client.post("/v1/meetings", json={"number": "剖析会议", "held_on": "2021-02-26", "members": members}).json()
        ids = [m["member_id"] for m in members]
        client.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": ids})
        tokens = {m: {"Authorization": "Bearer " + client.post(f"/v1/meetings/{meeting['id']}/member-tokens",
                                                               json={"member_id": m}).json()["token"]} for m in ids}
        ballot = client.post(f"/v1/meetings/{meeting['id']}/ballots", json={"department": "剖析", "evaluation_year": 2021}).json()
        client.post(f"/v1/ballots/{ballot['id']}/open")
        for m in ids[:10]:  # warm-up
            client.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": m, "choice": "satisfied"}, headers=tokens[m])
        for profiler in profiles:
            profiler.clear()
        enabled.set()
        started = time.perf_counter()
        for n, m in enumerate(ids[10:]):
            resp = client.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": m, "choice": CHOICES[n % 3]},
                               headers=tokens[m])
            assert resp.status_code == 201, resp.text
        elapsed = time.perf_counter() - started
        enabled.clear()
        threading.setprofile(None)
    measured = casts - 10
    print(f"{measured} casts in process, one at a time: {elapsed / measured * 1000:.2f} ms each (profiled, so slower)")
    print(f"SQL per cast: {sum(statements.values()) / measured:.1f} statements, "
          f"{sum(statement_time.values()) / measured * 1000:.2f} ms")
    for words, count in statements.most_common():
        print(f"  {count / measured:4.1f} x {statement_time[words] / count * 1000:6.2f} ms  {words}")
    for profiler in profiles:
        profiler.create_stats()
    stats = pstats.Stats(*[p for p in profiles if p.stats])
    stats.sort_stats("tottime").print_stats(top)


def in_process(database_url: str, rounds: int, *, top: int = 0) -> None:
    """The server's share alone: each round's 60 casts are ASGI calls on the app in
    this process (no sockets, no load generator), with the full-GC pauses counted,
    and the process's CPU time per cast during the rounds' casts, by thread (a figure
    of work done, not of waiting: it moves little with the machine's load). With
    `top`, a cProfile of each thread during the casts, `top` lines each."""
    import cProfile
    import gc
    import pstats
    import threading

    from bench.voting_probe import figures, probed

    from services.voting.app import create_app
    from services.voting.settings import VotingSettings

    full_collections = []
    gc.callbacks.append(lambda phase, info: full_collections.append(1) if phase == "start" and info["generation"] == 2 else None)
    key = operator_key(database_url)
    app = probed(create_app(VotingSettings(database_url=database_url, run_relay=False, run_consumer=False,
                                           log_level="WARNING")))
    profiles: dict[str, cProfile.Profile] = {}
    profiling = threading.Event()
    if top:
        # The writer and the linker run in threads started before the rounds: profile their passes.
        import shared.security.audit
        from shared.web.group_commit import GroupCommitWriter

        def profiled(name: str, function):
            def run(*args, **kwargs):
                if not profiling.is_set():
                    return function(*args, **kwargs)
                return profiles.setdefault(name, cProfile.Profile()).runcall(function, *args, **kwargs)
            return run

        write_batch = GroupCommitWriter._write_batch
        GroupCommitWriter._write_batch = lambda self, batch: profiled(self.name, write_batch)(self, batch)
        shared.security.audit.link_all = profiled("audit linker", shared.security.audit.link_all)

    async def call(ballot_id: str, member_id: str, n: int, headers: dict) -> None:
        request = vote_request(ballot_id, member_id, n, headers)
        head, body = request.split(b"\r\n\r\n", 1)
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
                 "path": f"/v1/ballots/{ballot_id}/votes", "raw_path": f"/v1/ballots/{ballot_id}/votes".encode(),
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1), "server": ("bench", 80),
                 "headers": [tuple(part.strip().lower() if i == 0 else part.strip() for i, part in enumerate(line.split(b":", 1)))
                             for line in head.split(b"\r\n")[1:]]}
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        assert sent[0]["status"] == 201, sent

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {key}"}) as client:
                meeting_id, tokens = await setup(client)
                cpu: dict[str, float] = {}
                sql = 0
                round_ms: list[float] = []
                for r in range(rounds + 1):
                    ballot_id = await new_open_ballot(client, meeting_id, f"部门{r:03d}")
                    await asyncio.sleep(0.3)  # the audit linker's pass for the open is done
                    before = len(full_collections)
                    await (await client.post("/bench/probe/reset")).aread()
                    if r and top:
                        profiling.set()
                        profiles.setdefault("event loop", cProfile.Profile()).enable()
                    started = time.perf_counter()
                    await asyncio.gather(*[call(ballot_id, m, n, tokens[m]) for n, m in enumerate(MEMBER_IDS)])
                    elapsed = (time.perf_counter() - started) * 1000
                    await asyncio.sleep(0.3)  # the linker seals the round's entries: its share belongs to the casts
                    if r and top:
                        profiling.clear()
                        profiles["event loop"].disable()
                    used = figures()
                    await close_and_check(client, ballot_id)
                    if r:  # the first is the warm-up
                        for name, seconds in used["cpu_seconds_by_thread"].items():
                            cpu[name] = cpu.get(name, 0.0) + seconds
                        sql += sum(used["sql_statements_by_thread"].values())
                        round_ms.append(elapsed)
                        print(f"round {r:2d}: 60 casts in {elapsed:6.1f} ms, full collections {len(full_collections) - before}")
                casts = rounds * MEMBERS
                print(f"rounds of 60 casts: median {statistics.median(round_ms):.1f} ms, max {max(round_ms):.1f} ms")
                print(f"process CPU per cast (the casts and the audit linker's pass after them): "
                      f"{sum(cpu.values()) / casts * 1000:.3f} ms; by thread: "
                      + ", ".join(f"{name} {seconds / casts * 1000:.3f} ms" for name, seconds in
                                  sorted(cpu.items(), key=lambda kv: -kv[1])))
                print(f"SQL statements per cast: {sql / casts:.2f}")

    asyncio.run(main())
    for name, profiler in sorted(profiles.items()):
        profiler.create_stats()
        if profiler.stats:
            print(f"==== {name}")
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="what sends the casts")
    parser.add_argument("--profile", type=int, default=0, metavar="CASTS", help="profile this many casts in process instead")
    parser.add_argument("--top", type=int, default=40, help="lines of the profile to print")
    parser.add_argument("--in-process", type=int, default=0, metavar="ROUNDS", help="the server alone, as ASGI calls")
    parser.add_argument("--profile-threads", action="store_true", help="with --in-process: cProfile of each thread")
    parser.add_argument("--no-probe", action="store_true",
                        help="serve services.voting.app itself, without bench/voting_probe.py's figures")
    args = parser.parse_args()
    if args.in_process:
        with postgres_database("pingyi_bench_cast_asgi") as database_url:
            in_process(database_url, args.in_process, top=args.top if args.profile_threads else 0)
        return
    if args.profile:
        with postgres_database("pingyi_bench_cast_profile") as database_url:
            profile(database_url, args.profile + 10, args.top)
        return
    with postgres_database("pingyi_bench_cast") as database_url:
        key = operator_key(database_url)
        app = "services.voting.app:create_app" if args.no_probe else "bench.voting_probe:create_app"
        with voting_server(database_url, workers=args.workers, pool_size=args.pool_size, app=app) as url:
            timings, casts_alone, live, cpu, figures = asyncio.run(run(url, key, args.rounds, raw=args.client == "raw",
                                                                       probe=not args.no_probe))
    print(f"vote requests: {len(timings)} ({args.rounds} rounds x {MEMBERS} members at once), "
          f"uvicorn workers={args.workers}, pool={args.pool_size}, client={args.client}")
    print(summary("60 at once          ", timings))
    print(summary("baseline: cast alone", casts_alone))
    print(summary("baseline: GET /healthz/live alone", live))
    print(f"server CPU (uvicorn processes) during the rounds: {cpu * 1000:.2f} ms per request")
    if figures is not None:
        print_probe(figures, requests=args.rounds * (MEMBERS + 3), casts=args.rounds * MEMBERS,
                    note=" (one worker's)" if args.workers > 1 else "")


def print_probe(figures: dict, *, requests: int, casts: int, note: str = "") -> None:
    """The server's own figures for the rounds (bench/voting_probe.py)."""
    cpu = figures["cpu_seconds_by_thread"]
    print(f"server probe{note}, during the rounds: CPU per request by thread: "
          + ", ".join(f"{name} {seconds / requests * 1000:.2f} ms" for name, seconds in cpu.items()))
    for name, w in figures["writers"].items():
        wait, write, commit = w["wait_ms"], w["write_ms"], w["commit_ms"]
        print(f"  writer {name}: {w['batches']} batches, {w['items_per_batch']} items per batch; group-commit wait "
              f"p50 {wait.get('p50', 0)} p99 {wait.get('p99', 0)} max {wait.get('max', 0)} ms; batch statements "
              f"p50 {write.get('p50', 0)} p99 {write.get('p99', 0)} ms; commit p50 {commit.get('p50', 0)} "
              f"p99 {commit.get('p99', 0)} max {commit.get('max', 0)} ms")
    pool = figures["pool"]
    print(f"  connection pool: {pool['checkouts']} checkouts, {pool['connects']} connections opened, "
          f"{pool['waited']} waited over 1 ms "
          f"(total {pool['wait_ms']} ms, longest {pool['max_wait_ms']} ms)")
    sql = figures["sql_statements_by_thread"]
    print(f"  SQL statements: {sum(sql.values())} ({sum(sql.values()) / casts:.2f} per cast; by thread {sql})")


if __name__ == "__main__":
    main()
