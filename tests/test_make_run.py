"""`pingyi run` (what `make run` starts): the broker, three services and the
portal come up, print their addresses (the portal's first), and Ctrl-C leaves
no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.broker


def children_of(pid: int) -> set[int]:
    """Every live descendant of `pid`, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_run_starts_everything_and_ctrl_c_stops_it_all(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.ops.cli", "run", "--var-dir", str(tmp_path / "var")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(output)
        urls = dict(re.findall(r"^(voting|scoring|tracking)\s+(http://127\.0\.0\.1:\d+)/docs", text, re.M))
        assert set(urls) == {"voting", "scoring", "tracking"}, text
        for service, url in urls.items():
            assert httpx.get(f"{url}/openapi.json", timeout=5).json()["info"]["title"].startswith("Pingyi")
            assert httpx.get(f"{url}/healthz/ready", timeout=5).status_code == 200
        portal = re.search(r"^portal\s+(http://127\.0\.0\.1:\d+)/", text, re.M)
        assert portal, text
        first_address = re.search(r"http://127\.0\.0\.1:\d+", text).group(0)
        assert first_address == portal.group(1)  # the people's pages are printed first
        home = httpx.get(portal.group(1) + "/", timeout=10)
        assert home.status_code == 200 and '<html lang="zh-CN">' in home.text, home.text[:500]
        urls["portal"] = portal.group(1)
        descendants = children_of(process.pid)
        assert len(descendants) >= 5  # Tansu, three services and the portal

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        time.sleep(0.5)
        assert [pid for pid in descendants if alive(pid)] == []
        for url in urls.values():
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{url}/healthz/live", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_killed_launcher_leaves_no_service_behind(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.ops.cli", "run", "--var-dir", str(tmp_path / "var")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "Ctrl-C stops everything" not in (process.stdout.readline() or "Ctrl-C stops everything"):
            pass
        descendants = children_of(process.pid)
        assert len(descendants) >= 5
        process.kill()  # no chance to clean up: the children must go by themselves
        process.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(pid) for pid in descendants):
            time.sleep(0.2)
        assert [pid for pid in descendants if alive(pid)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
