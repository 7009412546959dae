"""Shared by the voting benchmarks: a throwaway Postgres database, migrated, and
the voting app under uvicorn on 127.0.0.1 against it."""

from __future__ import annotations

import os
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import uvicorn_server  # noqa: E402
from shared.ops.migrations import upgrade  # noqa: E402

ADMIN_URL = os.environ.get("PINGYI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def postgres_database(prefix: str):
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def voting_server(database_url: str, *, workers: int = 1, pool_size: int = 20, extra_env: dict[str, str] | None = None,
                  app: str = "services.voting.app:create_app"):
    """`app`: the factory uvicorn serves (bench.voting_probe:create_app adds the probes)."""
    upgrade("voting", database_url)
    env = {
        "VOTING_DATABASE_URL": database_url,
        "VOTING_RUN_RELAY": "false",
        "VOTING_RUN_CONSUMER": "false",
        "VOTING_LOG_LEVEL": "WARNING",
        "VOTING_DB_POOL_SIZE": str(pool_size),
        **(extra_env or {}),
    }
    # Idle kept-alive connections stay open between phases (uvicorn closes them after 5 s by default).
    args = [app, "--factory", "--workers", str(workers), "--timeout-keep-alive", "120"]
    with uvicorn_server(args, env=env) as url:
        yield url


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def operator_key(database_url: str, scopes: tuple[str, ...] = ("voting:admin", "read")) -> str:
    """An API key for the clerk's system, stored straight in the migrated database."""
    import uuid as _uuid

    from services.voting.models import SECURITY_MODELS
    from shared.security.credentials import create_api_key
    from shared.db import Database

    upgrade("voting", database_url)
    db = Database(database_url)
    try:
        with db.session() as session:
            return create_api_key(session, SECURITY_MODELS.api_key, name=f"bench-{_uuid.uuid4().hex[:6]}", scopes=list(scopes))
    finally:
        db.dispose()
