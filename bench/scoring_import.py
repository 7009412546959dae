"""12345 import benchmark: N synthetic work orders into Postgres, against a
psql `\\copy` of the same file into a plain table measured in the same run.

    .venv/bin/python bench/scoring_import.py --rows 1000000 [--file orders.csv] [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
    .venv/bin/python bench/scoring_import.py --year-dir /tmp/pingyi-year [--year-orders 22000000 --year-files 11]

Runs the real CLI (`python -m services.scoring.hotline.cli import`) as a child
process; peak memory is the largest sum of resident memory of the CLI and its
own children (none since the parser became a thread), sampled every 20 ms, beside the largest
single process from wait4(). Then re-imports the same file (idempotency:
nothing changes), and times the net-complaint metric for all departments, for
all time and for a year cut at Beijing midnight (part days at both ends),
against the same figures counted from the work orders themselves (what the
metric did before the day counts). Everything stays on 127.0.0.1; the
throwaway database is dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scoring_workorders import COLUMNS, DEPARTMENTS, write  # noqa: E402
from services.scoring.hotline.service import net_complaints  # noqa: E402
from services.scoring.models import DepartmentAlias  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.ops.migrations import upgrade  # noqa: E402


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total / 1024


def run_measured(cmd: list[str], env: dict | None = None, timeout: float = 1800) -> tuple[float, float, float, str]:
    """Wall time, peak summed RSS of the process tree, peak RSS of its largest process, stdout.
    The process is killed after `timeout` seconds (the benchmark stops)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], tree_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        killer.cancel()
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed: {err.read().decode()[-2000:]}")
        largest = usage.ru_maxrss / 1024
        # Sampling can miss a short peak that wait4() saw: never report less than it.
        return elapsed, max(peak[0], largest), largest, out.read().decode()


def fresh_database(admin, admin_url: str, prefix: str):
    """A throwaway database on the admin's server, migrated: (name, SQLAlchemy URL, libpq URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name)
    upgrade("scoring", url.render_as_string(hide_password=False))
    return name, url, url.set(drivername="postgresql").render_as_string(hide_password=False)


def drop_database(admin, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def copy_baseline(libpq: str, path: Path) -> float:
    """psql `\\copy` of the CSV into a plain all-text table: the seconds it took."""
    columns = ", ".join(f"{c} text" for c in COLUMNS)
    subprocess.run(["psql", libpq, "-q", "-c", f"CREATE TABLE plain_orders ({columns})"], check=True)
    elapsed = run_measured(["psql", libpq, "-q", "-c", f"\\copy plain_orders FROM '{path}' WITH (FORMAT csv, HEADER true)"])[0]
    subprocess.run(["psql", libpq, "-q", "-c", "DROP TABLE plain_orders"], check=True)
    return elapsed


def best_of(n: int, db: Database, *args, **kwargs) -> tuple[list[float], object]:
    """net_complaints() n times, each in its own session: the timings and the last result."""
    timings, result = [], None
    for _ in range(n):
        with db.session() as session:
            t = time.perf_counter()
            result = net_complaints(session, *args, **kwargs)
            timings.append(time.perf_counter() - t)
    return timings, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, help="import this CSV (kept) instead of generating one")
    parser.add_argument("--year-dir", type=Path, help="the year benchmark: files generated once into this directory and kept")
    parser.add_argument("--year-orders", type=int, default=22_000_000)
    parser.add_argument("--year-files", type=int, default=11)
    parser.add_argument("--year-import-files", type=int, help="import only the first N files of the year (a shorter run)")
    parser.add_argument("--max-seconds", type=float, default=1800, help="per import: a longer one is killed")
    parser.add_argument("--admin-url", default=os.environ.get("PINGYI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    if args.year_dir:
        return year_run(args)

    workdir = Path(tempfile.mkdtemp(prefix="pingyi-bench-"))
    path = args.file or workdir / "orders.csv"
    if not args.file:
        t = time.perf_counter()
        write(path, args.rows)
        print(f"generated {args.rows} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    load_before = os.getloadavg()
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    name, url, libpq = fresh_database(admin, args.admin_url, "pingyi_bench")
    try:
        baseline = copy_baseline(libpq, path)

        cli = [sys.executable, "-m", "services.scoring.hotline.cli", "import", str(path), "--database-url", url.render_as_string(hide_password=False)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        first, first_rss, first_max, out = run_measured(cli, env, args.max_seconds)
        again, again_rss, again_max, out_again = run_measured(cli, env, args.max_seconds)

        db = Database(url.render_as_string(hide_password=False))
        with db.session() as session:
            for short in DEPARTMENTS:
                session.add(DepartmentAlias(alias=f"淄博市{short}", department=f"淄博市{short}"))
                session.add(DepartmentAlias(alias=f"市{short}", department=f"淄博市{short}"))
        beijing = dt.timezone(dt.timedelta(hours=8))
        year = (dt.datetime(2021, 1, 1, tzinfo=beijing), dt.datetime(2022, 1, 1, tzinfo=beijing))
        timings, (counts, unmatched) = best_of(3, db, None, None)
        year_timings, year_result = best_of(3, db, *year)
        old_timings, old_result = best_of(3, db, None, None, from_orders=True)
        old_year_timings, old_year_result = best_of(3, db, *year, from_orders=True)
        with db.session() as session:
            groups = session.execute(text("SELECT count(*) FROM work_order_day_counts")).scalar()
        db.dispose()

        def same(a, b) -> bool:
            return {d: (c.received, c.net, c.excluded) for d, c in a[0].items()} == {d: (c.received, c.net, c.excluded) for d, c in b[0].items()} and a[1] == b[1]

        def ms(values: list[float]) -> str:
            return f"best {min(values) * 1000:.0f} ms of 3 ({', '.join(f'{x * 1000:.0f}' for x in values)} ms)"

        first_summary, again_summary = json.loads(out), json.loads(out_again)
        print(f"| load average before / after | {' '.join(f'{x:.2f}' for x in load_before)} / {' '.join(f'{x:.2f}' for x in os.getloadavg())} |")
        print(f"| rows | {first_summary['accepted'] + first_summary['rejected']:,} ({path.stat().st_size / 1e6:.0f} MB CSV, UTF-8) |")
        print(f"| psql \\copy into a plain table (baseline) | {baseline:.2f} s |")
        print(f"| import, first run | {first:.2f} s (**{first / baseline:.2f}× the `\\copy`**), peak RSS {first_rss:.0f} MB summed over the CLI and any child (largest process {first_max:.0f} MB); "
              f"accepted {first_summary['accepted']:,}, rejected {first_summary['rejected']} |")
        print(f"| import, same file again | {again:.1f} s, peak RSS {again_rss:.0f} MB (largest process {again_max:.0f} MB); "
              f"accepted {again_summary['accepted']}, updated {again_summary['updated']}, unchanged {again_summary['unchanged']:,} |")
        print(f"| net complaints, all {len(counts)} departments, all time | {ms(timings)}; {groups:,} day-count rows; unmatched names {len(unmatched)} |")
        print(f"| net complaints, 2021 in Beijing time (part days at both ends) | {ms(year_timings)} |")
        print(f"| the same, counted from the orders (before the day counts) | all time {ms(old_timings)}; 2021 {ms(old_year_timings)} |")
        print(f"| day counts agree with the orders | {'yes' if same((counts, unmatched), old_result) and same(year_result, old_year_result) else 'NO'} |")
    finally:
        drop_database(admin, name)
        if not args.file:
            path.unlink(missing_ok=True)
        workdir.rmdir()


def year_run(args) -> None:
    """A year arriving as several files, imported one after the other by the CLI
    into one database; then the metric over all of it. The first file is also
    `\\copy`'d into a plain table as the baseline of the same run."""
    from bench.scoring_workorders import write_year

    t = time.perf_counter()
    files = write_year(args.year_dir, args.year_orders, args.year_files)
    print(f"{len(files)} files ready in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    name, url, libpq = fresh_database(admin, args.admin_url, "pingyi_bench_year")
    try:
        print(f"| load average at the start | {' '.join(f'{x:.2f}' for x in os.getloadavg())} |")
        baseline = copy_baseline(libpq, files[0])
        print(f"| psql \\copy of file 1 into a plain table (baseline) | {baseline:.1f} s |")
        cli = [sys.executable, "-m", "services.scoring.hotline.cli", "import", "--database-url", url.render_as_string(hide_password=False)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        peak, total, imported = 0.0, 0.0, 0
        for i, path in enumerate(files[: args.year_import_files], start=1):
            elapsed, rss, largest, out = run_measured([*cli[:4], str(path), *cli[4:]], env, args.max_seconds)
            summary = json.loads(out)
            peak, total, imported = max(peak, rss), total + elapsed, imported + summary["accepted"]
            print(f"| file {i} ({path.stat().st_size / 1e6:.0f} MB) | {elapsed:.1f} s, peak RSS {rss:.0f} MB (largest process {largest:.0f} MB); "
                  f"accepted {summary['accepted']:,}, rejected {summary['rejected']}; load {os.getloadavg()[0]:.2f} |")
        print(f"| all files | {total:.0f} s for {imported:,} orders; peak RSS {peak:.0f} MB summed over the CLI and any child |")
        db = Database(url.render_as_string(hide_password=False))
        with db.session() as session:
            for short in DEPARTMENTS:
                session.add(DepartmentAlias(alias=f"淄博市{short}", department=f"淄博市{short}"))
                session.add(DepartmentAlias(alias=f"市{short}", department=f"淄博市{short}"))
        beijing = dt.timezone(dt.timedelta(hours=8))
        timings, (counts, _) = best_of(3, db, None, None)
        year_timings, _ = best_of(3, db, dt.datetime(2021, 1, 1, tzinfo=beijing), dt.datetime(2022, 1, 1, tzinfo=beijing))
        with db.session() as session:
            groups = session.execute(text("SELECT count(*) FROM work_order_day_counts")).scalar()
            orders = session.execute(text("SELECT sum(orders) FROM work_order_day_counts")).scalar()
        db.dispose()
        ms = ", ".join(f"{x * 1000:.0f}" for x in timings)
        print(f"| net complaints, all {len(counts)} departments, all time | best {min(timings) * 1000:.0f} ms of 3 ({ms} ms); {groups:,} day-count rows for {orders:,} orders |")
        print(f"| net complaints, 2021 in Beijing time (part days at both ends) | best {min(year_timings) * 1000:.0f} ms of 3 ({', '.join(f'{x * 1000:.0f}' for x in year_timings)} ms) |")
        print(f"| load average at the end | {' '.join(f'{x:.2f}' for x in os.getloadavg())} |")
    finally:
        drop_database(admin, name)


if __name__ == "__main__":
    main()
