"""Shared by the HTTP benchmarks: start a uvicorn server on 127.0.0.1 in a
child process, wait for it, run wrk against it, parse the figures; a minimal
kept-alive HTTP/1.1 client for load generators written in Python."""

from __future__ import annotations

import asyncio
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


class RawHTTP:
    """One kept-alive HTTP/1.1 connection to the server under test, written by hand:
    a bench's load generator must cost far less CPU than the server it measures, and
    httpx.AsyncClient costs several ms per request on these two cores (it, not the
    server, capped the figures). Requests go out as bytes; a response is read as its
    status line and headers up to the blank line, then exactly Content-Length bytes
    (uvicorn sends it). After `Connection: close` the next request opens a new
    connection; a connection closed with no answer raises ConnectionError (a POST is
    not retried: it may have been applied). No chunked bodies, no redirects, no TLS."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
        self.host, self.port = host, int(port)
        self.host_header = f"Host: {host}:{port}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: bytes, extra_headers: bytes = b"") -> tuple[int, bytes]:
        """POST `body` (JSON bytes) to `path`; `extra_headers`: whole "Name: value\\r\\n" lines."""
        head = (b"POST " + path.encode() + b" HTTP/1.1\r\n" + self.host_header + extra_headers
                + b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        return await self.send(head + body)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            # The server closed the connection without answering: not retried (a POST may have been applied).
            self.close()
            raise ConnectionError("the server closed the connection before answering") from None
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = None, False
        for line in lines[1:-2]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                raise ValueError(f"RawHTTP reads Content-Length bodies only, not Transfer-Encoding {value.strip()!r}")
        if length is None and (status < 200 or status in (204, 304)):
            body = b""
        elif length is None:  # no length: the body runs to the end of the connection
            body, close = await self.reader.read(), True
        else:
            body = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def aclose(self) -> None:
        writer = self.writer
        self.close()
        if writer is not None:
            try:
                await writer.wait_closed()
            except OSError:
                pass
