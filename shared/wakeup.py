"""Wake a background loop when a transaction that gave it work commits, so
the loop can sleep long while nothing happens (idle services cost nothing).

In this process an `after_commit` hook sets an event. Other processes (a
replica, the CLI) on Postgres: the transaction also sends NOTIFY on a
channel (delivered only if it commits) and a LISTEN connection sets the same
event. On SQLite, one process by design, the loop's fallback timer covers
the CLI.

The code that adds the work marks the session: `session.info[flag] = True`.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import event, text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shared.db import Database

log = structlog.get_logger(__name__)


class CommitSignal:
    def __init__(self, db: Database, *, flag: str, channel: str, listen_retry: float = 5.0) -> None:
        self.db = db
        self.flag = flag
        self.channel = channel
        self.listen_retry = listen_retry
        self._event = threading.Event()
        self._notify = db.backend == "postgresql"
        self._closed = threading.Event()
        self._listener: threading.Thread | None = None
        # Wakes the LISTEN thread's select() on close.
        self._stop_r, self._stop_w = socket.socketpair()
        event.listen(db.sessionmaker, "after_commit", self._after_commit)
        if self._notify:
            event.listen(db.sessionmaker, "before_commit", self._before_commit)
            self._listener = threading.Thread(target=self._listen, name=f"{channel}-listen", daemon=True)
            self._listener.start()

    # --- this process ---------------------------------------------------------

    def _before_commit(self, session: Session) -> None:
        if session.info.get(self.flag):
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": self.channel})

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(self.flag, False):
            self._event.set()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Until a commit marked the flag (or `set`), at most `timeout` seconds; True if woken."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    # --- other processes (Postgres) -------------------------------------------

    def _listen(self) -> None:
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._closed.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    # A commit elsewhere while we were away: look once.
                    self._event.set()
                    while not self._closed.is_set():
                        ready, _, _ = select.select([conn.fileno(), self._stop_r], [], [])
                        if self._stop_r in ready:
                            return
                        if any(True for _ in conn.notifies(timeout=0)):
                            self._event.set()
            except Exception as exc:  # the database is away: the fallback timer covers it meanwhile
                if self._closed.is_set():
                    return
                log.warning("commit_signal_listen_failed", channel=self.channel, error=repr(exc))
                self._closed.wait(self.listen_retry)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self._stop_w.send(b"x")
        except OSError:
            pass
        if self._listener is not None:
            self._listener.join(5)
        event.remove(self.db.sessionmaker, "after_commit", self._after_commit)
        if self._notify:
            event.remove(self.db.sessionmaker, "before_commit", self._before_commit)
        self._stop_r.close()
        self._stop_w.close()
