"""Leader lease: one replica of a service runs each single-writer loop (the
outbox relay, the audit linker) while the others stand by.

On Postgres the lease is a session advisory lock held on a connection of its
own: a replica that dies or loses its connection releases it at once, and a
standby takes it on its next try (`retry_interval`). SQLite is one process
by design, so there the lease is always held.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from shared.db import Database

log = structlog.get_logger(__name__)


class LeaderLease:
    def __init__(self, db: Database, name: str, *, retry_interval: float = 1.0, verify_interval: float = 1.0) -> None:
        self.name = name
        self.retry_interval = retry_interval
        self.verify_interval = verify_interval
        self._single_process = db.backend != "postgresql"
        self._engine = None if self._single_process else create_engine(db.url, poolclass=NullPool)
        self._connection: Connection | None = None
        self._next_try = 0.0
        self._next_verify = 0.0
        self.acquired_total = 0

    def held(self) -> bool:
        """True while this process holds the lease; tries to take it when free (cheap to call often)."""
        if self._single_process:
            return True
        now = time.monotonic()
        if self._connection is not None:
            if now < self._next_verify:
                return True
            self._next_verify = now + self.verify_interval
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # connection gone: so is the lock
                log.warning("lease_lost", lease=self.name, error=repr(exc))
                self._drop()
        if now < self._next_try:
            return False
        self._next_try = now + self.retry_interval
        try:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception as exc:
            log.warning("lease_unavailable", lease=self.name, error=repr(exc))
            return False
        try:
            got = connection.scalar(text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": self.name})
        except Exception as exc:
            log.warning("lease_unavailable", lease=self.name, error=repr(exc))
            got = False
        if not got:
            connection.close()
            return False
        self._connection = connection
        self._next_verify = now + self.verify_interval
        self.acquired_total += 1
        log.info("lease_acquired", lease=self.name)
        return True

    @property
    def leading(self) -> bool:
        """Whether the lease was held at the last look (no I/O)."""
        return self._single_process or self._connection is not None

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                pass

    def release(self) -> None:
        """Hand the lease over (closing the connection releases the lock)."""
        if self._connection is not None:
            log.info("lease_released", lease=self.name)
        self._drop()
        if self._engine is not None:
            self._engine.dispose()
