"""Idle cost: CPU of each service process over a window with nothing happening,
on the embedded stack (Tansu, SQLite, the three services and the portal).

Every stack runs at the same time, in the same window, so a busy neighbour
weighs on all of them alike:
- "this": the code of this checkout;
- "base" (with --base DIR): the same, from another checkout, e.g. main's
  commit in a `git worktree` (`git worktree add --detach /tmp/pingyi-base aeae6b4`);
- each --variant NAME:KEY=VALUE,...: this checkout with those settings
  (e.g. `--variant no-loops:RUN_RELAY=false,RUN_CONSUMER=false,RUN_AUDIT_LINKER=false,RUN_WEBHOOKS=false`),
  to see which loop costs what.

Each stack first runs one unsatisfied flow end to end (the groups have joined,
the outboxes hold sent rows the broker-loss check reads back), then settles.
CPU is user + system time from /proc, so the figure is the process's own
work, not its share of a crowded machine.

    .venv/bin/python bench/idle_cost.py --seconds 60 --base /tmp/pingyi-base
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
SERVICES = ("voting", "scoring", "tracking")


def child(args) -> None:
    """Start one stack from the checkout on sys.path, run a flow, print the pids, wait for stdin to close."""
    import httpx

    from bench.delivery_recovery import MEMBERS, close_unsatisfied, wait_rereports
    from shared.ops.embedded import EmbeddedStack

    env = dict(item.split("=", 1) for item in filter(None, args.env.split(",")))
    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(var_dir=Path(tmp), ports={}, extra_env=env)
        # Not the default ports: several stacks run side by side.
        from shared.messaging.broker import free_port

        stack.ports = {name: free_port() for name in (*SERVICES, "portal")}
        stack.start(ready_timeout=180)
        try:
            voting = httpx.Client(base_url=stack.url("voting"), headers=stack.operator_headers, timeout=30)
            meeting = voting.post("/v1/meetings", json={"number": "第一次会议", "held_on": "2021-08-26",
                                                        "members": MEMBERS}).json()
            voting.post(f"/v1/meetings/{meeting['id']}/check-ins",
                        json={"member_ids": [m["member_id"] for m in MEMBERS[:6]]})
            later = voting.post("/v1/meetings", json={"number": "第二次会议", "held_on": "2021-10-28",
                                                      "members": MEMBERS}).json()
            close_unsatisfied(stack, voting, meeting["id"], "预热局")
            if env.get("RUN_CONSUMER") != "false" and env.get("RUN_RELAY") != "false":
                wait_rereports(voting, later["id"], 1, timeout=120)  # the flow went through every loop
            pids = {name: proc.pid for name, proc in stack.processes.items()} | {"broker": stack.broker.process.pid}
            print(json.dumps(pids), flush=True)
            sys.stdin.read()  # the parent closes it when the window is over
        finally:
            stack.stop()


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="the idle window")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after the flow before the window opens")
    parser.add_argument("--base", help="another checkout to measure beside this one (e.g. main's commit)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="this checkout with these service settings (prefix-less, applied to every service)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--env", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    stacks = [("this", HERE, "")]
    if args.base:
        stacks.insert(0, ("base", Path(args.base).resolve(), ""))
    for variant in args.variant:
        name, _, env = variant.partition(":")
        stacks.append((name, HERE, env))
    children = {}
    for name, tree, env in stacks:
        # The checkout's own code: its directory first on the path, and the working directory
        # of the services it starts (python -m shared.ops.cli).
        child_env = {**os.environ, "PYTHONPATH": str(tree)}
        children[name] = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", "--env", env], cwd=tree, env=child_env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pids = {name: json.loads(proc.stdout.readline()) for name, proc in children.items()}
        time.sleep(args.settle)
        load_before = os.getloadavg()
        before = {name: {p: cpu_seconds(pid) for p, pid in ps.items()} for name, ps in pids.items()}
        started = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        after = {name: {p: cpu_seconds(pid) for p, pid in ps.items()} for name, ps in pids.items()}
        load_after = os.getloadavg()
    finally:
        for proc in children.values():
            proc.stdin.close()
        for proc in children.values():
            proc.wait(60)
    processes = [*SERVICES, "portal", "broker"]
    print(f"idle CPU over {elapsed:.0f} s, per cent of one core (load {load_before[0]:.1f} -> {load_after[0]:.1f}):")
    print(f"  {'stack':12}" + "".join(f"{p:>10}" for p in processes))
    for name in pids:
        shares = [100 * (after[name][p] - before[name][p]) / elapsed for p in processes]
        print(f"  {name:12}" + "".join(f"{s:9.2f}%" for s in shares))


if __name__ == "__main__":
    main()
