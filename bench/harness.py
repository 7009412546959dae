"""Shared by the HTTP benchmarks: start a uvicorn server on 127.0.0.1 in a
child process, wait for it, run wrk against it, parse the figures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def uvicorn_server(args: list[str], env: dict[str, str] | None = None, ready_path: str = "/healthz/live"):
    """`args` after `python -m uvicorn`, without host/port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         # As `pingyi serve`: the app, not uvicorn, decides whose forwarding headers to believe.
         "--no-access-log", "--no-proxy-headers"],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + ready_path, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(20)


def wrk(url: str, *, seconds: int = 10, connections: int = 32, threads: int = 1, headers: dict[str, str] | None = None) -> dict:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    codes = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
        "errors": int(codes.group(1)) if codes else 0,
        "raw": out,
    }


def server_processes(url: str) -> list[int]:
    """The uvicorn process serving `url` and its workers (Linux /proc)."""
    port = url.rsplit(":", 1)[1].encode()
    main_pid = None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"uvicorn" in argv and b"--port" in argv and argv[argv.index(b"--port") + 1] == port:
                main_pid = int(entry.name)
    if main_pid is None:
        return []
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == main_pid:
                children.append(int(entry.name))
    return [main_pid, *children]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (0 where /proc is missing)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total
