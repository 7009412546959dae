"""Test fixtures: real SQLite and Postgres databases migrated with Alembic,
each test rolled back; a real Tansu broker for the delivery tests.

The Postgres leg uses the server on 127.0.0.1:5432 (override with
PINGYI_TEST_POSTGRES_URL) and a throwaway database per run. Under CI=true it
never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from shared.messaging.broker import TansuBroker
from shared.db import Database
from shared.ops.migrations import SERVICES, upgrade

POSTGRES_ADMIN_URL = os.environ.get("PINGYI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ("sqlite", "postgres")


def _postgres_url(database: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


class PostgresDatabases:
    """Creates throwaway databases on the test server and drops them at the end."""

    def __init__(self) -> None:
        self.prefix = f"pingyi_test_{uuid.uuid4().hex[:8]}"
        self.engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self, name: str) -> str:
        database = f"{self.prefix}_{name}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        self.created.append(database)
        return _postgres_url(database)

    def drop_all(self) -> None:
        with self.engine.connect() as conn:
            for database in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        self.engine.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    try:
        databases = PostgresDatabases()
        with databases.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"Postgres at {POSTGRES_ADMIN_URL} is required under CI=true: {exc}")
        pytest.skip(f"Postgres not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    yield databases
    databases.drop_all()


def new_database_url(backend: str, name: str, tmp_dir: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of the given backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / f'{name}-{uuid.uuid4().hex[:6]}.db'}"
    return request.getfixturevalue("postgres").create(f"{name}_{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="session")
def migrated_urls(tmp_path_factory) -> dict:
    """Lazily: one migrated database per (service, backend) for the whole run."""
    return {}


def migrated_database_url(service: str, backend: str, request: pytest.FixtureRequest) -> str:
    cache = request.getfixturevalue("migrated_urls")
    key = (service, backend)
    if key not in cache:
        tmp_dir = request.getfixturevalue("tmp_path_factory").mktemp(f"{service}-{backend}")
        url = new_database_url(backend, service, tmp_dir, request)
        upgrade(service, url)
        cache[key] = url
    return cache[key]


def settings_for(service: str, database_url: str, **overrides):
    module = import_module(f"services.{service}.settings")
    cls = getattr(module, f"{service.capitalize()}Settings")
    # The admin routes link; no thread on the test's connection. Webhooks may point at the loopback only.
    overrides = {"run_audit_linker": False, "run_webhooks": False, "webhook_allowed_hosts": "127.0.0.1,localhost",
                 "webhook_allowed_networks": "127.0.0.0/8", **overrides}
    return cls(database_url=database_url, run_relay=False, run_consumer=False, log_json=False, **overrides)


def create_app_for(service: str, settings, db: Database) -> FastAPI:
    return import_module(f"services.{service}.app").create_app(settings, db=db)


@dataclass
class ServiceHarness:
    """One service's app on a real, migrated database."""

    name: str
    backend: str
    app: FastAPI
    client: TestClient
    db: Database
    models: object

    def api_key(self, *scopes: str, department: str | None = None, name: str | None = None) -> dict[str, str]:
        """Headers carrying a new API key with these scopes (stored in this test's database)."""
        from shared.security.credentials import create_api_key

        with self.db.session() as session:
            key = create_api_key(session, self.models.SECURITY_MODELS.api_key, name=name or f"test-{uuid.uuid4().hex[:8]}",
                                 scopes=list(scopes), department=department)
        return {"Authorization": f"Bearer {key}"}

    def member_token(self, member_id: str, meeting_id: str, *, clerk: bool = False) -> dict[str, str]:
        """Headers carrying a member token (a clerk's also runs votes)."""
        from shared.security.credentials import issue_member_token, member_scopes

        scopes = member_scopes(clerk=clerk)
        token = issue_member_token(self.app.state.settings.auth_token_secret, member_id=member_id,
                                   meeting_id=meeting_id, scopes=scopes)
        return {"Authorization": f"Bearer {token}"}

    @property
    def anonymous(self) -> TestClient:
        """A client that sends no credential."""
        return TestClient(self.app, raise_server_exceptions=False)

    def outbox(self, topic: str | None = None) -> list:
        from sqlalchemy import select

        model = self.models.OutboxMessage
        with self.db.session() as session:
            stmt = select(model).order_by(model.id)
            if topic:
                stmt = stmt.where(model.topic == topic)
            return list(session.scalars(stmt))


@pytest.fixture
def rolled_back_db(request) -> Iterator[callable]:
    """Returns a factory of Databases whose work is rolled back after the test."""
    opened: list[tuple] = []

    def factory(service: str, backend: str) -> Database:
        db = Database(migrated_database_url(service, backend, request))
        connection = db.engine.connect()
        transaction = connection.begin()
        db.sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
        db.read_sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
        opened.append((db, connection, transaction))
        return db

    yield factory
    for db, connection, transaction in opened:
        transaction.rollback()
        connection.close()
        db.dispose()


def _harness(service: str, request, rolled_back_db) -> Iterator[ServiceHarness]:
    backend = request.param
    db = rolled_back_db(service, backend)
    app = create_app_for(service, settings_for(service, db.url), db)
    with TestClient(app, raise_server_exceptions=False) as client:
        harness = ServiceHarness(service, backend, app, client, db, import_module(f"services.{service}.models"))
        # The default client acts as the service's operator; tests of credentials use others.
        client.headers.update(harness.api_key(f"{service}:admin", "read", name=f"{service}-operator"))
        yield harness


@pytest.fixture(params=BACKENDS)
def voting(request, rolled_back_db) -> Iterator[ServiceHarness]:
    yield from _harness("voting", request, rolled_back_db)


@pytest.fixture(params=BACKENDS)
def scoring(request, rolled_back_db) -> Iterator[ServiceHarness]:
    yield from _harness("scoring", request, rolled_back_db)


@pytest.fixture(params=BACKENDS)
def tracking(request, rolled_back_db) -> Iterator[ServiceHarness]:
    yield from _harness("tracking", request, rolled_back_db)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def fresh_database_url(request, tmp_path) -> callable:
    """Factory: an empty (unmigrated) database for a backend; for tests that commit."""

    def factory(backend: str, name: str = "db") -> str:
        return new_database_url(backend, name, tmp_path, request)

    return factory


@pytest.fixture
def broker(tmp_path) -> Iterator[TansuBroker]:
    """A real Tansu process on a free loopback port, for one test."""
    with TansuBroker(log_path=tmp_path / "tansu.log") as tansu:
        yield tansu


# Small group timeouts: on Tansu a consumer group join waits about half the session timeout.
FAST_KAFKA = dict(
    kafka_session_timeout_ms=2000,
    kafka_heartbeat_interval_ms=300,
    kafka_max_poll_interval_ms=4000,
    kafka_request_timeout_ms=5000,
    kafka_max_block_ms=2000,
    kafka_bootstrap_timeout_ms=2000,
)

__all__ = ["BACKENDS", "FAST_KAFKA", "SERVICES", "ServiceHarness", "settings_for"]
