"""A loop in its own daemon thread, outside the ASGI event loop, that stops on request."""

from __future__ import annotations

import threading


class BackgroundLoop:
    thread_suffix = "loop"

    def __init__(self, name: str) -> None:
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Wake the loop from any wait so it sees the stop (override if it waits elsewhere)."""

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"{self.name}-{self.thread_suffix}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


class CommitWokenLoop(BackgroundLoop):
    """A loop that sleeps on a `shared.wakeup.CommitSignal` while it runs: woken when a
    transaction carrying its work commits, here or (Postgres NOTIFY) on another replica."""

    _wake = None

    def _commit_signal(self):  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def start(self) -> None:
        self._wake = self._commit_signal()
        super().start()

    def _interrupt(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def stop(self, timeout: float = 20.0) -> None:
        super().stop(timeout)
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.close()
