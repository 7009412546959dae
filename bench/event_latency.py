"""Event latency: a satisfaction ballot closed as 不满意 → the tracking case
visible over HTTP, through the broker (voting → scoring → tracking).

Baseline in the same run: a raw kafka-python produce → consume round trip on
the same Tansu broker. Starts everything on 127.0.0.1 and stops by itself.

    .venv/bin/python bench/event_latency.py --rounds 40 [--postgres] [--quiet-rounds 5 --gap 15]

With --quiet-rounds, that many more rounds each follow a quiet spell of --gap
seconds (longer than CONSUMER_IDLE_AFTER: the consumers' fetch wait has grown).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.ops.embedded import EmbeddedStack  # noqa: E402

MEMBERS = [{"member_id": f"m{i:02d}", "name": f"委员{i:02d}"} for i in range(1, 16)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def kafka_round_trips(bootstrap: str, rounds: int) -> list[float]:
    topic = f"bench-{uuid.uuid4().hex[:6]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="latest")
    producer.send(topic, b"warm-up").get(10)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
    consumer.assign(partitions)
    for tp in partitions:  # resolve "latest" now, not lazily after the first send
        consumer.position(tp)
    timings = []
    for i in range(rounds):
        started = time.perf_counter()
        producer.send(topic, str(i).encode()).get(10)
        got = False
        while not got:
            for records in consumer.poll(timeout_ms=50).values():
                got = got or any(r.value == str(i).encode() for r in records)
        timings.append(time.perf_counter() - started)
    producer.close()
    consumer.close()
    return timings


def close_unsatisfied(stack, voting: httpx.Client, meeting_id: str, department: str) -> str:
    ballot = voting.post(f"/v1/meetings/{meeting_id}/ballots", json={"department": department, "evaluation_year": 2021}).json()
    voting.post(f"/v1/ballots/{ballot['id']}/open")
    for member in MEMBERS[:9]:
        token = stack.member_token(member["member_id"], meeting_id)  # each member casts with their own token
        cast = voting.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": member["member_id"], "choice": "unsatisfied"},
                           headers={"Authorization": f"Bearer {token}"})
        assert cast.status_code == 201, cast.text
    return ballot["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--postgres", action="store_true", help="Postgres on 127.0.0.1:5432 instead of SQLite")
    parser.add_argument("--quiet-rounds", type=int, default=0, help="rounds after a quiet spell each")
    parser.add_argument("--gap", type=float, default=15.0, help="seconds of quiet before each of those")
    args = parser.parse_args()

    database_urls = {}
    if args.postgres:
        from sqlalchemy import create_engine, text

        admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
        prefix = f"pingyi_bench_{uuid.uuid4().hex[:6]}"
        with admin.connect() as conn:
            for service in ("voting", "scoring", "tracking"):
                conn.execute(text(f'CREATE DATABASE "{prefix}_{service}"'))
        database_urls = {s: f"postgresql+psycopg://postgres@127.0.0.1:5432/{prefix}_{s}" for s in ("voting", "scoring", "tracking")}

    with tempfile.TemporaryDirectory() as tmp, EmbeddedStack(var_dir=Path(tmp), database_urls=database_urls) as stack:
        voting = httpx.Client(base_url=stack.url("voting"), headers=stack.operator_headers, timeout=10)
        tracking = httpx.Client(base_url=stack.url("tracking"), headers=stack.operator_headers, timeout=10)
        meeting = voting.post("/v1/meetings", json={"number": "第一次会议", "held_on": "2021-08-26", "members": MEMBERS}).json()
        voting.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": [m["member_id"] for m in MEMBERS]})

        # Warm-up: the consumer groups join and the first path is exercised.
        ballot_id = close_unsatisfied(stack, voting, meeting["id"], "预热局")
        voting.post(f"/v1/ballots/{ballot_id}/close")
        while not tracking.get("/v1/cases", params={"department": "预热局"}).json()["items"]:
            time.sleep(0.05)

        def one_round(department: str, gap: float = 0.0) -> float:
            ballot_id = close_unsatisfied(stack, voting, meeting["id"], department)
            time.sleep(gap)
            started = time.perf_counter()
            assert voting.post(f"/v1/ballots/{ballot_id}/close").status_code == 200
            deadline = started + 30
            while time.perf_counter() < deadline:
                if tracking.get("/v1/cases", params={"department": department}).json()["items"]:
                    break
                time.sleep(0.005)
            return time.perf_counter() - started

        latencies = [one_round(f"测试局{i:03d}") for i in range(args.rounds)]
        after_quiet = [one_round(f"安静局{i:03d}", args.gap) for i in range(args.quiet_rounds)]

        baseline = kafka_round_trips(stack.broker.bootstrap, args.rounds)

    if args.postgres:
        with admin.connect() as conn:
            for service in ("voting", "scoring", "tracking"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)'))

    ms = lambda v: f"{v * 1000:.1f} ms"  # noqa: E731
    backend = "Postgres" if args.postgres else "SQLite"
    print(f"event latency, ballot closed -> tracking case visible ({backend}, {args.rounds} rounds):")
    print(f"  median {ms(statistics.median(latencies))}   p90 {ms(percentile(latencies, 0.9))}   max {ms(max(latencies))}")
    if after_quiet:
        print(f"  after {args.gap:.0f} s of quiet ({len(after_quiet)} rounds): median {ms(statistics.median(after_quiet))}"
              f"   max {ms(max(after_quiet))}")
    print("baseline, raw kafka-python produce -> consume round trip on the same broker:")
    print(f"  median {ms(statistics.median(baseline))}   p90 {ms(percentile(baseline, 0.9))}   max {ms(max(baseline))}")


if __name__ == "__main__":
    main()
