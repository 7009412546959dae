"""Public online vote throughput through the verified flow, against the voting app
under uvicorn on 127.0.0.1, with a bare FastAPI endpoint (bench/bare_app.py) driven
the same way in the same run as the baseline:

1. votes/s with voting passes issued beforehand: 200 concurrent clients each send
   `{"pass", "choices"}` with a pass of its own. The passes are sealed before the
   run by the same code the verification route uses (`Verification.issue_pass`,
   same VOTING_IDENTITY_HASH_KEY as the server), one per fresh phone, so the run
   measures voting alone; issuing them is what phase 2 measures. Afterwards the
   stored rows are counted: every accepted vote must be there (nothing lost), no
   identity twice, and the audit chain's batch entries must name exactly the
   stored vote rows.
2. complete flows/s: code request → verification (the code read back from the
   file SMS gateway, as a person trying the system would) → vote, each flow a
   fresh phone, `--flow-clients` flows at once; rows counted the same way.

Load generators: wrk with a Lua script (phase 1), and for phase 2 a minimal
asyncio HTTP/1.1 client (bench.harness.RawHTTP: one kept-alive connection per
flow worker, requests written as bytes, responses read by Content-Length, the
JSON parsed only for the pass). It is hand-written because the load generator
must cost far less CPU than the server it measures: on these two cores
httpx.AsyncClient spends several ms per request and itself capped the figure
(5 s runs, one uvicorn worker, Postgres: httpx 24.5 ms of the bench's CPU per
flow and 33 flows/s, this client 0.4 ms and 67 flows/s). `--flow-client httpx`
drives phase 2 with httpx.AsyncClient instead, for comparison; phase 2 prints
the bench process's own CPU per flow beside the server's. `--probe` serves
`bench.voting_probe:create_app` and prints phase 2's server CPU per flow by
thread, each group-commit writer's batches, waits and commits, and the pool.

Both play the reverse proxy: the server trusts 127.0.0.1 as a proxy
(VOTING_TRUSTED_PROXIES) and each request's X-Forwarded-For names a client
address shared by a few requests only, so the production limits stay on and are
counted as in production, in the database (no Redis) unless --rate-limit-storage
says otherwise. `--one-address` sends everything as 127.0.0.1 instead, with the
address limits raised out of the way.

    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200              # Postgres
    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200 --workers 2
    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200 --sqlite
    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200 --flow-client httpx   # phase 2 on httpx
    .venv/bin/python bench/voting_public.py --seconds 10 --connections 200 --probe               # where phase 2 goes in the server
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import RawHTTP, cpu_seconds, server_processes, uvicorn_server, wrk  # noqa: E402
from bench.voting_common import operator_key, postgres_database, voting_server  # noqa: E402

OPTIONS = ["市住房和城乡建设局", "市生态环境局", "市教育局", "市卫生健康委员会", "市交通运输局", "市公安局", "市民政局", "市人力资源和社会保障局"]
VOTE_ACTION = "POST /v1/public-polls/{poll_id}/votes"
BENCH_HASH_KEY = "bench-only-identity-hash-key-" + uuid.uuid4().hex

VOTE_SCRIPT = r"""
-- globals: wrk reads them per thread with thread:get
counter = 0
thread_id = 0
accepted = 0
refused = 0
local statuses = {}
local next_id = 0
local threads = {}
local passes = {}

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  -- this thread's share of the passes: lines thread_id, thread_id + threads, ...
  local i = 0
  for line in io.lines("%(passes)s") do
    if i %% %(threads)d == thread_id then table.insert(passes, line) end
    i = i + 1
  end
end

function request()
  counter = counter + 1
  -- every pass once; should wrk outrun them, reuse (answered identity-already-voted)
  local token = passes[((counter - 1) %% #passes) + 1]
  local body = '{"pass":"' .. token .. '","choices":["%(a)s","%(b)s"]}'
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


def create_poll(url: str, database_url: str, run: str) -> dict:
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
        return poll.json()


def phones(prefix: int, count: int) -> Iterator[str]:
    """Fresh mainland mobiles: +86 1, two digits from the prefix (30-99), an 8-digit counter."""
    return (f"+861{30 + prefix % 70:02d}{n:08d}" for n in range(min(count, 10 ** 8)))


def write_passes(poll_id: str, count: int, prefix: int) -> str:
    """`count` passes for fresh phones, one a line, sealed as the verification route seals them."""
    from services.voting.settings import VotingSettings
    from services.voting.verification.service import Verification

    verification = Verification.of(VotingSettings(database_url="sqlite://", identity_hash_key=BENCH_HASH_KEY))
    now = dt.datetime.now(dt.UTC)
    with tempfile.NamedTemporaryFile("w", suffix=".passes", delete=False) as handle:
        for phone in phones(prefix, count):
            handle.write(verification.issue_pass(poll_id, phone, now)[0] + "\n")
    return handle.name


def run_votes(url: str, database_url: str, args, *, run: str) -> dict:
    poll = create_poll(url, database_url, run)
    path = f"/v1/public-polls/{poll['id']}/votes"
    # Enough passes for the fastest run we might see; the rest stay unused.
    count = max(2000, 4000 * args.seconds)
    warm_passes, passes = write_passes(poll["id"], 4000, 1), write_passes(poll["id"], count, 2)
    fields = {"a": OPTIONS[0], "b": OPTIONS[3], "path": path, "spread": "false" if args.one_address else "true",
              "threads": args.threads}
    # Warm-up (its own identities): connections, pools, compiled statements.
    wrk_script(VOTE_SCRIPT % (fields | {"passes": warm_passes}), url + path, seconds=2, connections=args.connections,
               threads=args.threads)
    engine = create_engine(database_url)
    wait_until_stable(engine, poll["id"])
    before = count_rows(engine, poll["id"])
    pids = server_processes(url)
    cpu_before = cpu_seconds(pids)
    out = wrk_script(VOTE_SCRIPT % (fields | {"passes": passes}), url + path, seconds=args.seconds,
                     connections=args.connections, threads=args.threads)
    os.unlink(warm_passes)
    os.unlink(passes)
    cpu_used = cpu_seconds(pids) - cpu_before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    accepted, refused = (int(x) for x in re.search(r"ACCEPTED (\d+) REFUSED (\d+)", out).groups())
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    wait_until_stable(engine, poll["id"])
    after = count_rows(engine, poll["id"])
    engine.dispose()
    return {"rps": rps, "accepted": accepted, "refused": refused, "p50": p50.group(1) if p50 else "?", "cpu": cpu_used,
            "p99": p99.group(1) if p99 else "?", "before": before, "after": after, "raw": out, "passes": count}


class CodeReader:
    """Reads codes back from the file SMS gateway's lines, as a person trying the system does."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.codes = path, 0, {}

    def code_for(self, to: str) -> str | None:
        if to not in self.codes and self.path.exists():
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
            whole = chunk[:chunk.rfind(b"\n") + 1]
            self.offset += len(whole)
            for line in whole.splitlines():
                message = json.loads(line)
                self.codes[message["to"]] = re.search(r"验证码为 (\d{6})", message["text"]).group(1)
        return self.codes.pop(to, None)


# POST (path, JSON payload, X-Forwarded-For or None) → (status, body bytes)
Post = Callable[[str, dict, str | None], Awaitable[tuple[int, bytes]]]


def httpx_post(client: httpx.AsyncClient) -> Post:
    async def post(path: str, payload: dict, address: str | None) -> tuple[int, bytes]:
        response = await client.post(path, json=payload, headers={"X-Forwarded-For": address} if address else None)
        return response.status_code, response.content
    return post


def raw_post(connection: RawHTTP) -> Post:
    async def post(path: str, payload: dict, address: str | None) -> tuple[int, bytes]:
        forwarded = f"X-Forwarded-For: {address}\r\n".encode() if address else b""
        return await connection.post_json(path, json.dumps(payload).encode(), forwarded)
    return post


async def one_flow(post: Post, poll_id: str, phone: str, address: str | None, reader: CodeReader) -> str:
    """code request → verification → vote; the outcome's name."""
    base = f"/v1/public-polls/{poll_id}"
    status, _ = await post(f"{base}/verification-codes", {"phone": phone}, address)
    if status != 202:
        return f"code {status}"
    code = reader.code_for(phone)
    if code is None:
        return "no sms"
    status, body = await post(f"{base}/verifications", {"phone": phone, "code": code}, address)
    if status != 201:
        return f"verification {status}"
    status, _ = await post(f"{base}/votes", {"pass": json.loads(body)["pass"], "choices": [OPTIONS[1]]}, address)
    return "voted" if status == 201 else f"vote {status}"


async def drive_flows(url: str, poll_id: str, *, seconds: float, clients: int, prefix: int, reader: CodeReader,
                      spread: bool, client_kind: str = "raw") -> dict:
    """`clients` workers, each running flows one after another until `seconds` are up; with
    client_kind "raw" each worker has its own kept-alive RawHTTP connection, with "httpx"
    they share one httpx.AsyncClient (a pool of `clients` connections)."""
    numbers = iter(phones(prefix, 10_000_000))
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(w: int, post: Post) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            # a new client address every 4 flows: 12 code requests an address at most, far below 100 an hour
            address = f"10.{w % 256}.{n // 4 // 256 % 256}.{n // 4 % 256}" if spread else None
            started = time.perf_counter()
            try:
                outcome = await one_flow(post, poll_id, next(numbers), address, reader)
            except (OSError, httpx.HTTPError) as error:  # counted, not fatal: the raw connection reopens
                outcome = f"error {type(error).__name__}"
            latencies.append(time.perf_counter() - started)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    if client_kind == "raw":
        connections = [RawHTTP(url) for _ in range(clients)]
        try:
            await asyncio.gather(*(worker(w, raw_post(c)) for w, c in enumerate(connections)))
        finally:
            await asyncio.gather(*(c.aclose() for c in connections))
    else:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            await asyncio.gather(*(worker(w, httpx_post(client)) for w in range(clients)))
    return {"outcomes": outcomes, "latencies": latencies}


def run_flows(url: str, database_url: str, args, *, run: str, outbox: Path) -> dict:
    poll = create_poll(url, database_url, run + "f")
    reader = CodeReader(outbox)
    spread = not args.one_address
    asyncio.run(drive_flows(url, poll["id"], seconds=2, clients=args.flow_clients, prefix=3, reader=reader, spread=spread,
                            client_kind=args.flow_client))
    engine = create_engine(database_url)
    wait_until_stable(engine, poll["id"])
    before = count_rows(engine, poll["id"])
    pids = server_processes(url)
    if args.probe:
        httpx.post(url + "/bench/probe/reset", timeout=30).raise_for_status()
    cpu_before = cpu_seconds(pids)
    bench_cpu_before = time.process_time()  # this process's own CPU (all its threads): the load generator's cost
    started = time.monotonic()
    result = asyncio.run(drive_flows(url, poll["id"], seconds=args.flow_seconds, clients=args.flow_clients, prefix=4,
                                     reader=reader, spread=spread, client_kind=args.flow_client))
    elapsed = time.monotonic() - started
    bench_cpu = time.process_time() - bench_cpu_before
    cpu_used = cpu_seconds(pids) - cpu_before
    figures = httpx.get(url + "/bench/probe", timeout=30).json() if args.probe else None
    wait_until_stable(engine, poll["id"])
    after = count_rows(engine, poll["id"])
    engine.dispose()
    return result | {"elapsed": elapsed, "cpu": cpu_used, "bench_cpu": bench_cpu, "before": before, "after": after,
                     "figures": figures}


def print_server_figures(figures: dict, flows: int) -> None:
    """The probed server's own figures for phase 2 (--probe): CPU per flow by thread, SQL, writers, pool."""
    n = max(flows, 1)
    cpu = figures["cpu_seconds_by_thread"]
    print(f"  server (probed) CPU per flow: {sum(cpu.values()) / n * 1000:.2f} ms; by thread: "
          + ", ".join(f"{name} {seconds / n * 1000:.2f} ms" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])))
    for name, w in figures["writers"].items():
        print(f"  writer {name}: {w['batches']} batches, {w['items_per_batch']} items per batch, "
              f"wait p50 {w['wait_ms'].get('p50', 0)} ms, commit p50 {w['commit_ms'].get('p50', 0)} ms")
    pool = figures["pool"]
    print(f"  connection pool: {pool['checkouts'] / n:.1f} checkouts per flow, {pool['connects']} connections opened, "
          f"{pool['waited']} waited over 1 ms")


def profile_flows(database_url: str, flows: int, top: int, concurrency: int, pool_size: int) -> None:
    """Complete flows in process (ASGI calls on the app, no sockets, no load generator's
    CPU): SQL statements per flow by statement, the process's CPU per flow by thread
    (each thread's own CPU clock: a figure of work, which moves little with the machine's
    load), and with `top` a cProfile of the event loop and of the threads' requests."""
    import collections
    import cProfile
    import pstats
    import threading

    from sqlalchemy import event

    from bench.voting_probe import figures, probed
    from services.voting.app import create_app
    from services.voting.settings import VotingSettings

    outbox_dir = tempfile.mkdtemp(prefix="pingyi_bench_sms")
    outbox = Path(outbox_dir) / "sms-outbox.jsonl"
    settings = VotingSettings(database_url=database_url, run_relay=False, run_consumer=False, log_level="WARNING",
                              identity_hash_key=BENCH_HASH_KEY, sms_gateway=f"file:{outbox}",
                              trusted_proxies="127.0.0.1", db_pool_size=pool_size)
    from shared.ops.migrations import upgrade
    upgrade("voting", database_url)
    app = probed(create_app(settings))
    statements: collections.Counter = collections.Counter()
    counting = threading.Event()

    @event.listens_for(app.state.runtime.db.engine, "after_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        if counting.is_set():
            statements[" ".join(statement.split()[:5])[:70]] += 1

    profiles: dict[str, cProfile.Profile] = {}
    if top:
        import starlette.concurrency
        from anyio import to_thread

        run_sync = to_thread.run_sync

        async def profiled_run_sync(func, *args, **kwargs):
            def run(*a):
                if not counting.is_set():
                    return func(*a)
                profiler = profiles.setdefault(f"thread {threading.get_ident()}", cProfile.Profile())
                return profiler.runcall(func, *a)
            return await run_sync(run, *args, **kwargs)

        to_thread.run_sync = profiled_run_sync
        starlette.concurrency.anyio.to_thread.run_sync = profiled_run_sync

    async def main() -> dict:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
            key = operator_key(database_url)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                         headers={"Authorization": f"Bearer {key}"}) as admin:
                meeting = await admin.post("/v1/meetings", json={"number": "剖析会议", "held_on": "2022-02-26",
                                                                 "members": [{"member_id": "m01", "name": "委员01"}]})
                now = dt.datetime.now(dt.UTC)
                poll = (await admin.post("/v1/public-polls", json={
                    "meeting_id": meeting.json()["id"], "evaluation_year": 2022, "options": OPTIONS, "max_choices": 2,
                    "opens_at": (now - dt.timedelta(minutes=1)).isoformat(),
                    "closes_at": (now + dt.timedelta(hours=1)).isoformat()})).json()
            reader = CodeReader(outbox)
            numbers = iter(phones(5, 10_000_000))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                async def run(n: int, label: str) -> dict[str, int]:
                    outcomes: dict[str, int] = {}

                    async def one(i: int) -> None:
                        outcome = await one_flow(httpx_post(client), poll["id"], next(numbers),
                                                 f"10.9.{i // 256 % 256}.{i % 256}", reader)
                        outcomes[outcome] = outcomes.get(outcome, 0) + 1

                    for start in range(0, n, concurrency):
                        await asyncio.gather(*(one(hash((label, i)) % 60000) for i in range(start, min(n, start + concurrency))))
                    return outcomes

                await run(50, "warm")
                await (await client.post("/bench/probe/reset")).aread()
                counting.set()
                loop_profile = cProfile.Profile() if top else None
                if loop_profile:
                    profiles["event loop"] = loop_profile
                    loop_profile.enable()
                started = time.perf_counter()
                outcomes = await run(flows, "measured")
                elapsed = time.perf_counter() - started
                await asyncio.sleep(0.3)  # the audit linker's pass for these flows
                if loop_profile:
                    loop_profile.disable()
                counting.clear()
                return {"outcomes": outcomes, "elapsed": elapsed, "figures": figures()}

    result = asyncio.run(main())
    shutil.rmtree(outbox_dir, ignore_errors=True)
    voted = result["outcomes"].get("voted", 0)
    cpu = result["figures"]["cpu_seconds_by_thread"]
    print(f"{flows} complete flows in process, {concurrency} at once: outcomes {result['outcomes']}, "
          f"{flows / result['elapsed']:.0f} flows/s in process (this process does nothing else)")
    print(f"process CPU per flow: {sum(cpu.values()) / max(voted, 1) * 1000:.2f} ms; by thread: "
          + ", ".join(f"{name} {seconds / max(voted, 1) * 1000:.2f} ms" for name, seconds in cpu.items()))
    print(f"SQL per flow: {sum(statements.values()) / max(voted, 1):.1f} statements")
    for words, count in statements.most_common():
        print(f"  {count / max(voted, 1):5.2f}  {words}")
    for name, w in result["figures"]["writers"].items():
        print(f"  writer {name}: {w['batches']} batches, {w['items_per_batch']} items per batch, "
              f"wait p50 {w['wait_ms'].get('p50', 0)} ms, commit p50 {w['commit_ms'].get('p50', 0)} ms")
    pool = result["figures"]["pool"]
    print(f"  connection pool: {pool['checkouts']} checkouts ({pool['checkouts'] / max(voted, 1):.1f} per flow), "
          f"{pool['connects']} connections opened, {pool['waited']} waited over 1 ms (total {pool['wait_ms']} ms)")
    if top:
        threads = [p for name, p in profiles.items() if name != "event loop"]
        for label, group in (("event loop", [profiles["event loop"]]), ("thread pool (sync endpoints)", threads)):
            for profiler in group:
                profiler.create_stats()
            group = [p for p in group if p.stats]
            if group:
                print(f"==== {label}")
                pstats.Stats(*group).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(top)


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
                        help="VOTING_RATE_LIMIT_STORAGE_URI: memory:// (shared limits in the database) or redis://host:port/db")
    parser.add_argument("--flow-seconds", type=int, default=10, help="phase 2: complete flows for this long")
    parser.add_argument("--flow-clients", type=int, default=50, help="phase 2: flows at once")
    parser.add_argument("--flow-client", choices=("raw", "httpx"), default="raw",
                        help="phase 2's load generator: raw (bench.harness.RawHTTP, one connection per flow worker) "
                             "or httpx (httpx.AsyncClient)")
    parser.add_argument("--probe", action="store_true",
                        help="serve bench.voting_probe:create_app and print phase 2's server CPU by thread, writers, pool")
    parser.add_argument("--skip-flows", action="store_true", help="phase 1 only")
    parser.add_argument("--profile-flows", type=int, default=0, metavar="FLOWS",
                        help="instead: this many complete flows in process, SQL and CPU per flow")
    parser.add_argument("--top", type=int, default=0, help="with --profile-flows: cProfile lines to print")
    args = parser.parse_args()
    if args.profile_flows:
        with postgres_database("pingyi_bench_public_profile") as database_url:
            profile_flows(database_url, args.profile_flows, args.top, args.flow_clients, args.pool_size)
        return

    with uvicorn_server(["bench.bare_app:app", "--workers", str(args.workers)], ready_path="/bare") as bare_url:
        wrk(bare_url + "/bare", seconds=2, connections=args.connections, threads=args.threads)  # warm-up
        pids = server_processes(bare_url)
        cpu_before = cpu_seconds(pids)
        baseline = wrk(bare_url + "/bare", seconds=args.seconds, connections=args.connections, threads=args.threads)
        baseline_cpu = cpu_seconds(pids) - cpu_before

    outbox_dir = tempfile.mkdtemp(prefix="pingyi_bench_sms")
    outbox = Path(outbox_dir) / "sms-outbox.jsonl"
    env = {"VOTING_RATE_LIMIT_STORAGE_URI": args.rate_limit_storage, "VOTING_IDENTITY_HASH_KEY": BENCH_HASH_KEY,
           "VOTING_SMS_GATEWAY": f"file:{outbox}", "VOTING_TRUSTED_PROXIES": "127.0.0.1"}
    if args.one_address:
        for name in ("PUBLIC_VOTE_IP", "VERIFICATION_CODE_IP", "VERIFICATION_IP"):
            env[f"VOTING_RATE_LIMIT_{name}"] = "1000000000/minute"
    database = sqlite_database("pingyi_bench_public") if args.sqlite else postgres_database("pingyi_bench_public")
    flows = None
    with database as database_url:
        with voting_server(database_url, workers=args.workers, pool_size=args.pool_size, extra_env=env,
                           app="bench.voting_probe:create_app" if args.probe else "services.voting.app:create_app") as url:
            run = uuid.uuid4().hex[:6]
            result = run_votes(url, database_url, args, run=run)
            if not args.skip_flows:
                flows = run_flows(url, database_url, args, run=run, outbox=outbox)
    shutil.rmtree(outbox_dir, ignore_errors=True)

    backend = "SQLite" if args.sqlite else "Postgres"
    print(f"{backend}; {args.connections} connections, {args.seconds} s, wrk threads {args.threads}, "
          f"uvicorn workers {args.workers}, {'one address' if args.one_address else 'addresses spread (X-Forwarded-For)'}, "
          f"rate limits in {args.rate_limit_storage}")
    served = baseline["rps"] * args.seconds
    print(f"baseline bare FastAPI GET: {baseline['rps']:.0f} req/s, p99 {baseline['p99_ms']} ms, errors {baseline['errors']}, "
          f"server CPU {baseline_cpu / served * 1000 if served else 0:.3f} ms per request")
    accepted = result["accepted"]
    print(f"phase 1, passes issued beforehand ({result['passes']} sealed before the run, one per fresh phone)")
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
    if flows is not None:
        done = flows["outcomes"].get("voted", 0)
        lat = sorted(flows["latencies"])
        p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0)
        f_before, f_after = flows["before"], flows["after"]
        f_votes = f_after["votes"] - f_before["votes"]
        print(f"phase 2, complete flows (code request -> verification with the code read from the file gateway -> vote), "
              f"{args.flow_clients} at once, client {args.flow_client}, {flows['elapsed']:.1f} s:")
        print(f"  {done / flows['elapsed']:.0f} complete flows/s ({done} voted; outcomes {dict(sorted(flows['outcomes'].items()))}), "
              f"flow p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, server CPU "
              f"{flows['cpu'] / done * 1000 if done else 0:.2f} ms per flow, bench ({args.flow_client} client) CPU "
              f"{flows['bench_cpu'] / done * 1000 if done else 0:.2f} ms per flow")
        f_ok = f_votes >= done and f_after["voters"] == f_after["votes"] == f_after["distinct"] and f_after["audited_match"]
        print(f"  rows written: votes {f_votes} for {done} completed flows; whole poll voters {f_after['voters']}, "
              f"votes {f_after['votes']}, audit matches {f_after['audited_match']}: {'nothing lost' if f_ok else 'MISMATCH'}")
        if flows["figures"] is not None:
            print_server_figures(flows["figures"], done)
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.raw:
        print(result["raw"])


if __name__ == "__main__":
    main()
