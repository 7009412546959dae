"""Status polling: a conditional GET answered 304 by tracking's compact case
status, against a bare FastAPI endpoint on the same machine, same run.

Both run as one uvicorn process on 127.0.0.1; wrk drives each in turn with
the same connections and duration. Target: the 304 path reaches 80% or more
of the bare endpoint's requests per second.

    apt-get install wrk   # once
    .venv/bin/python bench/polling_304.py --seconds 10 --connections 32
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import uvicorn_server, wrk  # noqa: E402
from services.tracking.models import EvaluationCase, InboxMessage  # noqa: E402
from services.tracking.settings import TrackingSettings  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.messaging.events import VoteMarkedUnsatisfied  # noqa: E402
from shared.messaging.inbox import handle_once  # noqa: E402
from shared.ops.migrations import upgrade  # noqa: E402


def seed_case(url: str) -> str:
    """One case opened the way production opens it: by a handled event."""
    from services.tracking.app import create_app

    db = Database(url)
    settings = TrackingSettings(database_url=url, run_relay=False, run_consumer=False)
    handler = create_app(settings, db=db).state.runtime.handlers["vote.marked_unsatisfied"]
    envelope = VoteMarkedUnsatisfied(
        department="淄博市教育局", evaluation_year=2021, unsatisfied_round=1, vote_round=1,
        ballot_id=str(uuid.uuid4()), meeting_id=str(uuid.uuid4()), meeting_date=dt.date(2021, 8, 26),
    ).envelope(producer="scoring", key="淄博市教育局")
    handle_once(db, InboxMessage, handler, envelope)
    with db.session() as session:
        case_id = session.query(EvaluationCase.id).scalar()
    db.dispose()
    return case_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/tracking.db"
        upgrade("tracking", url)
        case_id = seed_case(url)
        # wrk polls from one address: a limit it never reaches, so the limiter's cost is
        # measured but every answer is a 304 (a real client meets the default 600/minute).
        env = {"TRACKING_DATABASE_URL": url, "TRACKING_RUN_RELAY": "false", "TRACKING_RUN_CONSUMER": "false",
               "TRACKING_LOG_LEVEL": "WARNING", "TRACKING_RATE_LIMIT_PUBLIC_READ": "100000000/minute"}

        with uvicorn_server(["bench.bare_app:app"], ready_path="/bare") as bare_url:
            wrk(bare_url + "/bare", seconds=2, connections=args.connections)  # warm-up
            bare = wrk(bare_url + "/bare", seconds=args.seconds, connections=args.connections)

        with uvicorn_server(["services.tracking.app:create_app", "--factory"], env=env) as app_url:
            path = f"/v1/public/cases/{case_id}/status"
            first = httpx.get(app_url + path)
            assert first.status_code == 200, first.text
            etag = first.headers["etag"]
            again = httpx.get(app_url + path, headers={"If-None-Match": etag})
            assert again.status_code == 304, again.status_code
            wrk(app_url + path, seconds=2, connections=args.connections, headers={"If-None-Match": etag})
            polled = wrk(app_url + path, seconds=args.seconds, connections=args.connections,
                         headers={"If-None-Match": etag})

    ratio = polled["rps"] / bare["rps"]
    print(f"bare FastAPI endpoint:        {bare['rps']:8.0f} req/s   p99 {bare['p99_ms']:.1f} ms")
    print(f"case status, 304 Not Modified: {polled['rps']:8.0f} req/s   p99 {polled['p99_ms']:.1f} ms")
    print(f"ratio: {ratio:.0%} of the bare endpoint (target >= 80%)")


if __name__ == "__main__":
    main()
