"""The voting app with the benchmarks' probes: where a request's time goes inside
the server, measured in the server process itself (not product code; the
benchmarks start uvicorn on `bench.voting_probe:create_app` instead of
`services.voting.app:create_app` unless told `--no-probe`).

Probed, for every group-commit writer of the process (casts, public votes, rate
limit counters) by wrapping `shared.web.group_commit.GroupCommitWriter`:

- the group-commit wait: from an item's submit to the start of the batch that
  writes it (the time a cast waits for the writer to be free);
- the batch: its size, the time its statements took and its commit (the
  WAL flush on Postgres);

for the engine's connection pool (`QueuePool`): checkouts, new connections
opened (beyond the pool's size each is closed again when returned to a full
pool), and how many checkouts found no idle connection and how long they waited
for one (a checkout taking over 1 ms: queued, or opening a connection);

for SQL: statements and round trips, by the thread that sent them;

and per thread of the process, its CPU time (/proc/self/task), by Python name.

`GET /bench/probe` answers the figures since the last `POST /bench/probe/reset`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import event

from shared.web.group_commit import GroupCommitWriter

_lock = threading.Lock()
_figures: dict = {}
_enqueued: dict[int, float] = {}
_installed = False
_CLK = os.sysconf("SC_CLK_TCK")


def _reset() -> None:
    with _lock:
        _figures.clear()
        _figures.update(
            writers=defaultdict(lambda: {"batches": 0, "items": 0, "wait_ms": [], "write_ms": [], "commit_ms": []}),
            pool={"checkouts": 0, "waited": 0, "wait_ms": 0.0, "max_wait_ms": 0.0, "connects": 0},
            sql=defaultdict(int),
            cpu_start=_thread_cpu(),
            started=time.monotonic(),
        )


def _thread_cpu() -> dict[str, float]:
    """CPU seconds per thread of this process, by Python thread name (each thread's own
    CPU clock, nanoseconds; threads Python did not start are counted from /proc at
    clock-tick resolution as "native")."""
    found: dict[str, float] = {}
    python_threads = set()
    for thread in threading.enumerate():
        python_threads.add(thread.native_id)
        try:
            seconds = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, TypeError):
            continue
        name = _kind(thread.name)
        found[name] = found.get(name, 0.0) + seconds
    for task in Path("/proc/self/task").iterdir():
        if int(task.name) in python_threads:
            continue
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found["native"] = found.get("native", 0.0) + (int(fields[11]) + int(fields[12])) / _CLK
    return found


def _kind(name: str) -> str:
    return "thread pool" if name.startswith(("ThreadPoolExecutor", "AnyIO worker", "asyncio_")) else name


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    original_enqueue = GroupCommitWriter._enqueue
    original_write_batch = GroupCommitWriter._write_batch

    def _enqueue(self, item, future, loop):
        _enqueued[id(future)] = time.perf_counter()
        return original_enqueue(self, item, future, loop)

    def _write_batch(self, batch):
        started = time.perf_counter()
        waits = [(started - _enqueued.pop(id(future), started)) * 1000 for _, future, _ in batch]
        write = self.write
        timing = {}

        def timed_write(session, items):
            t0 = time.perf_counter()
            try:
                return write(session, items)
            finally:
                timing["write"] = (time.perf_counter() - t0) * 1000
                original_commit = session.commit

                def timed_commit():
                    t1 = time.perf_counter()
                    try:
                        original_commit()
                    finally:
                        timing["commit"] = (time.perf_counter() - t1) * 1000

                session.commit = timed_commit

        self.write = timed_write
        try:
            return original_write_batch(self, batch)
        finally:
            self.write = write
            with _lock:
                w = _figures["writers"][self.name]
                w["batches"] += 1
                w["items"] += len(batch)
                w["wait_ms"] += waits
                w["write_ms"].append(timing.get("write", 0.0))
                w["commit_ms"].append(timing.get("commit", 0.0))

    GroupCommitWriter._enqueue = _enqueue
    GroupCommitWriter._write_batch = _write_batch


def _probe_engine(engine) -> None:
    pool = engine.pool
    original_do_get = pool._do_get

    def _do_get():
        t0 = time.perf_counter()
        try:
            return original_do_get()
        finally:
            waited = (time.perf_counter() - t0) * 1000
            with _lock:
                p = _figures["pool"]
                p["checkouts"] += 1
                if waited > 1.0:
                    p["waited"] += 1
                    p["wait_ms"] += waited
                    p["max_wait_ms"] = max(p["max_wait_ms"], waited)

    pool._do_get = _do_get

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection, record):
        with _lock:
            _figures["pool"]["connects"] += 1

    @event.listens_for(engine, "after_cursor_execute")
    def _counted(conn, cursor, statement, parameters, context, executemany):
        with _lock:
            _figures["sql"][_kind(threading.current_thread().name)] += 1


def _summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)  # noqa: E731
    return {"n": len(values), "mean": round(sum(values) / len(values), 2), "p50": pick(0.5), "p99": pick(0.99),
            "max": round(ordered[-1], 2)}


def figures() -> dict:
    with _lock:
        now_cpu = _thread_cpu()
        cpu = {name: round(now_cpu.get(name, 0.0) - _figures["cpu_start"].get(name, 0.0), 5) for name in now_cpu}
        return {
            "seconds": round(time.monotonic() - _figures["started"], 2),
            "cpu_seconds_by_thread": {k: v for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v},
            "writers": {name: {"batches": w["batches"], "items": w["items"],
                               "items_per_batch": round(w["items"] / w["batches"], 1) if w["batches"] else 0,
                               "wait_ms": _summary(w["wait_ms"]), "write_ms": _summary(w["write_ms"]),
                               "commit_ms": _summary(w["commit_ms"])} for name, w in _figures["writers"].items()},
            "pool": {**_figures["pool"], "wait_ms": round(_figures["pool"]["wait_ms"], 2),
                     "max_wait_ms": round(_figures["pool"]["max_wait_ms"], 2)},
            "sql_statements_by_thread": dict(_figures["sql"]),
        }


def probed(app: FastAPI) -> FastAPI:
    _install()
    _reset()
    _probe_engine(app.state.runtime.db.engine)

    @app.get("/bench/probe", include_in_schema=False)
    def probe() -> dict:
        return figures()

    @app.post("/bench/probe/reset", include_in_schema=False)
    def reset() -> dict:
        _reset()
        return {}

    # Matched before the service's routes' catch-alls.
    app.router.routes.insert(0, app.router.routes.pop())
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def create_app() -> FastAPI:
    from services.voting.app import create_app as voting_app

    return probed(voting_app())

