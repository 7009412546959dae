"""The embedded default on one machine: Tansu, SQLite files under var/, the
three services and the portal as child processes, started and stopped together.

Used by `pingyi run` and by the end-to-end tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.messaging.broker import TansuBroker, die_with_parent, free_port
from shared.ops.migrations import SERVICES, upgrade

DEFAULT_PORTS = {"voting": 8001, "scoring": 8002, "tracking": 8003, "portal": 8000}
PORTAL = "portal"
# Every process the stack runs: the three services, then the portal that reads them.
PROCESSES = (*SERVICES, PORTAL)

# Small group timeouts: on Tansu a group join waits about half the session timeout.
EMBEDDED_KAFKA_ENV = {
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    # A third of the session timeout, as Kafka's defaults; each heartbeat costs an idle service CPU.
    "KAFKA_HEARTBEAT_INTERVAL_MS": "600",
    "KAFKA_MAX_POLL_INTERVAL_MS": "4000",
    # One machine: retry a failed publish at least every second, so events
    # move within seconds of the broker's return. (Consumers keep reconnecting
    # at most a second apart: reconnecting faster, they fetch from a restarted
    # Tansu before the topics are ensured, and Tansu creates them itself with
    # its own partition count; events were then missed.)
    "RELAY_BACKOFF_MAX": "1",
}


OPERATOR_KEY_NAME = "local-operator"


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def free_ports(host: str = "127.0.0.1") -> dict[str, int]:
    """A free port for every process of the stack (tests and benchmarks: never a default port
    that `make run`, or another stack started at the same moment, may hold)."""
    return {process: free_port(host) for process in PROCESSES}


@dataclass
class EmbeddedStack:
    var_dir: Path
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    broker_port: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Per-service database URLs; SQLite files under var_dir otherwise.
    database_urls: dict[str, str] = field(default_factory=dict)
    broker: TansuBroker | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def operator_key_path(self) -> Path:
        return self.var_dir / "operator.key"

    @property
    def sms_outbox_path(self) -> Path:
        """Where the file SMS gateway writes the public vote's one-time codes (one JSON line each)."""
        return (self.var_dir / "sms-outbox.jsonl").resolve()

    @property
    def operator_key(self) -> str:
        """The local operator's API key (every service's admin scope), made on first start."""
        return self.operator_key_path.read_text().strip()

    @property
    def operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_key}"}

    def member_token(self, member_id: str, meeting_id: str, *, clerk: bool = False) -> str:
        from shared.security.credentials import issue_member_token, member_scopes

        scopes = member_scopes(clerk=clerk)
        return issue_member_token(self._member_token_secret(), member_id=member_id, meeting_id=meeting_id, scopes=scopes)

    def _member_token_secret(self) -> str:
        """A random secret kept under var/ (not the built-in development default)."""
        if "VOTING_AUTH_TOKEN_SECRET" in os.environ:
            return os.environ["VOTING_AUTH_TOKEN_SECRET"]
        path = self.var_dir / "member-token.secret"
        if not path.exists():
            import secrets

            write_private(path, secrets.token_urlsafe(48))
        return path.read_text().strip()

    def _ensure_operator_key(self) -> None:
        """Store the key in each service's database; reuse it while every database knows it."""
        from sqlalchemy import select

        from shared.security.credentials import KNOWN_SCOPES, hash_key, new_api_key, store_api_key
        from shared.db import Database

        key = self.operator_key if self.operator_key_path.exists() else None
        databases = []
        for service in SERVICES:
            models = __import__(f"services.{service}.models", fromlist=["SECURITY_MODELS"]).SECURITY_MODELS
            databases.append((Database(self.service_env(service)[service.upper() + "_DATABASE_URL"]), models.api_key))
        try:
            def known(db, model) -> bool:
                with db.session() as session:
                    row = session.scalars(select(model).where(model.name == OPERATOR_KEY_NAME)).first()
                    return row is not None and row.revoked_at is None and row.key_hash == hash_key(key)

            if key is not None and all(known(db, model) for db, model in databases):
                return
            _, key = new_api_key()
            scopes = [s for s in KNOWN_SCOPES if s == "read" or s.endswith(":admin")]
            for db, model in databases:
                with db.session() as session:
                    for old in session.scalars(select(model).where(model.name == OPERATOR_KEY_NAME)):
                        session.delete(old)
                    session.flush()
                    store_api_key(session, model, key, name=OPERATOR_KEY_NAME, scopes=scopes)
            write_private(self.operator_key_path, key)
        finally:
            for db, _ in databases:
                db.dispose()

    def database_url(self, service: str) -> str:
        if service in self.database_urls:
            return self.database_urls[service]
        return f"sqlite:///{(self.var_dir / f'{service}.db').resolve()}"

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"

    def portal_env(self) -> dict[str, str]:
        env = {**os.environ, "PORTAL_LOG_JSON": os.environ.get("PORTAL_LOG_JSON", "true")}
        env.update({f"PORTAL_{s.upper()}_URL": self.url(s) for s in SERVICES})
        env.update({k: v for k, v in self.extra_env.items() if k.startswith("PORTAL_")})
        return env

    def service_env(self, service: str) -> dict[str, str]:
        prefix = service.upper() + "_"
        env = {**os.environ}
        values = {
            "DATABASE_URL": os.environ.get(prefix + "DATABASE_URL", self.database_url(service)),
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap if self.broker else "",
            "LOG_JSON": os.environ.get(prefix + "LOG_JSON", "true"),
            "AUTH_TOKEN_SECRET": self._member_token_secret(),
            **EMBEDDED_KAFKA_ENV,
            **self.extra_env,
        }
        if service == "voting":
            values.setdefault("SMS_GATEWAY", os.environ.get("VOTING_SMS_GATEWAY", f"file:{self.sms_outbox_path}"))
        env.update({prefix + k: v for k, v in values.items()})
        return env

    def start(self, *, ready_timeout: float = 60.0) -> EmbeddedStack:
        try:
            self._start(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, ready_timeout: float) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        for service in PROCESSES:
            if service not in self.ports:
                default = DEFAULT_PORTS[service]
                self.ports[service] = default if _port_free(default, self.host) else free_port(self.host)
        self.broker = TansuBroker(port=self.broker_port, host=self.host, log_path=self.var_dir / "tansu.log").start()
        for service in SERVICES:
            upgrade(service, self.service_env(service)[service.upper() + "_DATABASE_URL"])
        self._ensure_operator_key()
        for service in PROCESSES:
            log = open(self.var_dir / f"{service}.log", "ab")
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", "shared.ops.cli", "serve", service, "--host", self.host, "--port", str(self.ports[service])],
                env=self.portal_env() if service == PORTAL else self.service_env(service),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        self.wait_ready(ready_timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(PROCESSES)
        while pending and time.monotonic() < deadline:
            for service in sorted(pending):
                proc = self.processes[service]
                if proc.poll() is not None:
                    raise RuntimeError(f"{service} exited with code {proc.returncode}; see {self.var_dir / (service + '.log')}")
                try:
                    if httpx.get(self.url(service) + "/healthz/ready", timeout=2).status_code == 200:
                        pending.discard(service)
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"not ready after {timeout}s: {', '.join(sorted(pending))}")

    def crashed(self) -> list[str]:
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def stop(self, timeout: float = 20.0) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
