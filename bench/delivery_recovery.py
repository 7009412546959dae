"""Delivery recovery and idle cost on the embedded stack (Tansu, SQLite, the
three services as processes).

1. Idle cost: CPU of each idle service process over a window, beside the same
   service started with no relay, consumer or audit linker (the baseline: what
   the loops add is the difference).
2. Recovery: the broker is killed; during the outage N unsatisfied flows are
   closed at voting (their events wait in the outbox); the broker comes back
   empty on the same port; the time until every effect is visible — the last
   one is the re-report on the next meeting's agenda, after three hops — is
   measured from the broker answering again. Baselines in the same run: one
   flow end to end with the broker up, and the same number of flows closed
   back to back with the broker up (the handling itself, no fault).

    .venv/bin/python bench/delivery_recovery.py [--flows 20] [--outage 60] [--idle 20] [--idle-only]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import cpu_seconds, free_port  # noqa: E402
from shared.messaging.broker import TansuBroker, die_with_parent  # noqa: E402
from shared.ops.embedded import EmbeddedStack, free_ports  # noqa: E402

SERVICES = ("voting", "scoring", "tracking")
MEMBERS = [{"member_id": f"m{i:02d}", "name": f"委员{i:02d}"} for i in range(1, 8)]
CHOICES = ["satisfied", "satisfied", "basically_satisfied", "unsatisfied", "unsatisfied", "unsatisfied"]


def close_unsatisfied(stack: EmbeddedStack, voting: httpx.Client, meeting_id: str, department: str) -> None:
    ballot = voting.post(f"/v1/meetings/{meeting_id}/ballots", json={"department": department, "evaluation_year": 2021})
    assert ballot.status_code == 201, ballot.text
    ballot_id = ballot.json()["id"]
    voting.post(f"/v1/ballots/{ballot_id}/open")
    for member, choice in zip(MEMBERS, CHOICES, strict=False):
        token = stack.member_token(member["member_id"], meeting_id)
        cast = voting.post(f"/v1/ballots/{ballot_id}/votes", json={"member_id": member["member_id"], "choice": choice},
                           headers={"Authorization": f"Bearer {token}"})
        assert cast.status_code == 201, cast.text
    assert voting.post(f"/v1/ballots/{ballot_id}/close").status_code == 200


def rereports(voting: httpx.Client, meeting_id: str) -> int:
    items = voting.get(f"/v1/meetings/{meeting_id}/agenda").json()["items"]
    return sum(1 for item in items if item["kind"] == "rereport_revote")


def wait_rereports(voting: httpx.Client, meeting_id: str, expected: int, timeout: float = 120.0) -> float:
    started = time.perf_counter()
    while rereports(voting, meeting_id) < expected:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"fewer than {expected} re-reports after {timeout}s")
        time.sleep(0.05)
    return time.perf_counter() - started


def idle_cpu(stack: EmbeddedStack, seconds: float) -> dict[str, float]:
    """Per cent of one core used by each service process (and a loop-less voting) over the window."""
    bare_port = free_port()
    log = open(stack.var_dir / "voting-bare.log", "ab")
    env = {**stack.service_env("voting"), "VOTING_RUN_RELAY": "false", "VOTING_RUN_CONSUMER": "false",
           "VOTING_RUN_AUDIT_LINKER": "false"}
    bare = subprocess.Popen([sys.executable, "-m", "shared.ops.cli", "serve", "voting", "--host", stack.host,
                             "--port", str(bare_port)], env=env, stdout=log, stderr=log, preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{stack.host}:{bare_port}/healthz/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(3)  # let start-up work settle
        pids = {s: [stack.processes[s].pid] for s in SERVICES} | {"voting, no loops": [bare.pid]}
        before = {name: cpu_seconds(p) for name, p in pids.items()}
        time.sleep(seconds)
        return {name: 100 * (cpu_seconds(p) - before[name]) / seconds for name, p in pids.items()}
    finally:
        bare.terminate()
        bare.wait(20)


def measure(stack: EmbeddedStack, args) -> tuple | None:
    voting = httpx.Client(base_url=stack.url("voting"), headers=stack.operator_headers, timeout=20)
    meeting = voting.post("/v1/meetings", json={"number": "第四十四次会议", "held_on": "2021-08-26", "members": MEMBERS}).json()
    voting.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": [m["member_id"] for m in MEMBERS[:6]]})
    later = voting.post("/v1/meetings", json={"number": "第四十五次会议", "held_on": "2021-10-28", "members": MEMBERS}).json()

    # Warm-up and baseline: one flow with the broker up.
    started = time.perf_counter()
    close_unsatisfied(stack, voting, meeting["id"], "预热局")
    wait_rereports(voting, later["id"], 1)
    baseline = time.perf_counter() - started

    # Baseline 2: the same number of flows closed back to back, broker up: the handling itself.
    for i in range(args.flows):
        close_unsatisfied(stack, voting, meeting["id"], f"对照局{i:03d}")
    burst = wait_rereports(voting, later["id"], 1 + args.flows)

    idle = idle_cpu(stack, args.idle)
    print(f"idle CPU over {args.idle:.0f} s, per cent of one core:")
    for name, share in idle.items():
        print(f"  {name:18} {share:5.2f} %")
    if args.idle_only:
        return

    port = stack.broker.port
    stack.broker.process.kill()
    stack.broker.process.wait()
    down_at = time.perf_counter()
    for i in range(args.flows):
        close_unsatisfied(stack, voting, meeting["id"], f"测试局{i:03d}")
    time.sleep(max(0.0, args.outage - (time.perf_counter() - down_at)))
    stack.broker = TansuBroker(port=port, host=stack.host, log_path=stack.var_dir / "tansu.log").start()
    print(f"broker back at {time.strftime('%H:%M:%S', time.gmtime())} UTC (match the services' log timestamps)", flush=True)
    recovery = wait_rereports(voting, later["id"], 1 + 2 * args.flows)
    operator = httpx.Client(headers=stack.operator_headers, timeout=10)
    resent = sum(
        float(line.rpartition(" ")[2])
        for s in SERVICES
        for line in operator.get(stack.url(s) + "/metrics").text.splitlines()
        if line.startswith("pingyi_relay_resent_total")
    )
    return recovery, resent, baseline, burst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the broker stays down")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle CPU window")
    parser.add_argument("--keep", help="directory for the logs (kept)")
    parser.add_argument("--idle-only", action="store_true", help="measure idle cost only (works on older code too)")
    args = parser.parse_args()

    ports = free_ports()
    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(var_dir=Path(args.keep or tmp), ports=ports).start(ready_timeout=180)
        try:
            results = measure(stack, args)
        finally:
            stack.stop()
    if results is None:
        return
    recovery, resent, baseline, burst = results
    print(f"recovery, broker back -> all {args.flows} re-reports on the agenda (outage {args.outage:.0f} s): "
          f"{recovery:.2f} s")
    print(f"  events re-sent after the broker came back empty: {resent:.0f}")
    print(f"baseline, one flow end to end with the broker up: {baseline:.2f} s")
    print(f"baseline, {args.flows} flows closed back to back with the broker up, last close -> all on the agenda: "
          f"{burst:.2f} s")


if __name__ == "__main__":
    main()
