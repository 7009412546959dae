"""12345 import benchmark: N synthetic work orders into Postgres, against a
psql `\\copy` of the same file into a plain table measured in the same run.

    .venv/bin/python bench/scoring_import.py --rows 1000000 [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Runs the real CLI (`python -m services.scoring.hotline.cli import`) as a child
process and reads its peak resident memory from wait4(); then re-imports the
same file (idempotency: nothing changes), and times the net-complaint metric
for all departments. Everything stays on 127.0.0.1; the throwaway database is
dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
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
from shared.migrations import upgrade  # noqa: E402


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed: {err.read().decode()[-2000:]}")
        return elapsed, usage.ru_maxrss / 1024, out.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--admin-url", default=os.environ.get("PINGYI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="pingyi-bench-"))
    path = workdir / "orders.csv"
    t = time.perf_counter()
    write(path, args.rows)
    print(f"generated {args.rows} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    name = f"pingyi_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin_url).set(database=name)
    try:
        upgrade("scoring", url.render_as_string(hide_password=False))
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        columns = ", ".join(f"{c} text" for c in COLUMNS)
        subprocess.run(["psql", libpq, "-q", "-c", f"CREATE TABLE plain_orders ({columns})"], check=True)
        baseline, _, _ = run_measured(["psql", libpq, "-q", "-c", f"\\copy plain_orders FROM '{path}' WITH (FORMAT csv, HEADER true)"])

        cli = [sys.executable, "-m", "services.scoring.hotline.cli", "import", str(path), "--database-url", url.render_as_string(hide_password=False)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        first, first_rss, out = run_measured(cli, env)
        again, again_rss, out_again = run_measured(cli, env)

        db = Database(url.render_as_string(hide_password=False))
        with db.session() as session:
            for short in DEPARTMENTS:
                session.add(DepartmentAlias(alias=f"淄博市{short}", department=f"淄博市{short}"))
                session.add(DepartmentAlias(alias=f"市{short}", department=f"淄博市{short}"))
        timings = []
        for _ in range(3):
            with db.session() as session:
                t = time.perf_counter()
                counts, unmatched = net_complaints(session, None, None)
                timings.append(time.perf_counter() - t)
        db.dispose()
        import json

        first_summary, again_summary = json.loads(out), json.loads(out_again)
        print(f"| rows | {args.rows:,} |")
        print(f"| psql \\copy into a plain table (baseline) | {baseline:.1f} s |")
        print(f"| import, first run | {first:.1f} s, peak RSS {first_rss:.0f} MB (accepted {first_summary['accepted']:,}, rejected {first_summary['rejected']}) |")
        print(f"| import, same file again | {again:.1f} s, peak RSS {again_rss:.0f} MB (accepted {again_summary['accepted']}, updated {again_summary['updated']}, unchanged {again_summary['unchanged']:,}) |")
        print(f"| net complaints, all {len(counts)} departments | best {min(timings) * 1000:.0f} ms of 3 ({', '.join(f'{x * 1000:.0f}' for x in timings)} ms); unmatched names {len(unmatched)} |")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        path.unlink(missing_ok=True)
        workdir.rmdir()


if __name__ == "__main__":
    main()
