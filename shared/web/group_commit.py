"""Group commit: many requests, one transaction. Requests put checked items on
an in-process queue; one writer thread takes whatever is waiting (up to
`max_batch`), writes it in one transaction and only after the commit answers
each request: its item, or the refusal it gets.

Why: each commit waits for its own WAL flush (about 2.4 ms on this Postgres),
so N requests committing one by one take at least N flushes; a batch is one.
Batches form by themselves: while one commits, the next requests queue up.

- Nothing is acknowledged before it is durably committed; a batch that fails is
  rolled back whole and every request in it gets `not_recorded()`.
- The queue is bounded: beyond `max_queue` a new item is refused with
  `queue_full(limit)`, never dropped silently.
- `close()` takes no more items and writes everything queued before the thread
  ends (the service's shutdown calls it).
- A request on the event loop waits on an asyncio future (`submit_async`); the
  writer wakes each loop once per batch, not once per item. A requester that
  stops waiting does not take its item back.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from sqlalchemy.orm import Session

from shared.web.problems import Problem

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Writes a batch in the session's transaction (the writer commits): per item
# None (recorded) or the refusal it gets.
Write = Callable[[Session, Sequence[T]], list[Problem | None]]


@dataclass(frozen=True)
class Refusals:
    """What a request is told when its item cannot be taken or written."""

    not_recorded: Callable[[], Problem]
    queue_full: Callable[[int], Problem]
    stopped: Callable[[], Problem]


def _settle(future: Future | asyncio.Future, result, outcome: Problem | None) -> None:
    if future.done():  # the requester stopped waiting
        return
    if outcome is None:
        future.set_result(result)
    else:
        future.set_exception(outcome)


def _settle_all(settled: list) -> None:
    for future, result, outcome in settled:
        _settle(future, result, outcome)


_app_parts_lock = threading.Lock()


def app_part(app, attribute: str, make: Callable[[], T]) -> T:
    """What `app.state.<attribute>` holds, made by `make()` on first use; once per app
    even when requests ask together (a writer, the verification parts)."""
    found = getattr(app.state, attribute, None)
    if found is None:
        with _app_parts_lock:
            found = getattr(app.state, attribute, None)
            if found is None:
                found = make()
                setattr(app.state, attribute, found)
    return found


async def close_app_writer(app, attribute: str) -> None:
    """At an app's shutdown: write what its writer (kept on `app.state.<attribute>`)
    still has queued; a later start of the same app makes a new one."""
    writer = getattr(app.state, attribute, None)
    if writer is not None:
        delattr(app.state, attribute)
        await asyncio.to_thread(writer.close)


class GroupCommitWriter(Generic[T]):
    def __init__(self, session_factory: Callable[[], Session], write: Write, refusals: Refusals, *, name: str,
                 max_batch: int = 500, max_queue: int = 20_000,
                 on_committed: Callable[[list[T]], None] | None = None,
                 result_of: Callable[[T], object] = lambda item: item) -> None:
        """`on_committed(recorded items)` runs after each commit that recorded some,
        before their requesters are answered (metrics, dropping cached answers);
        a recorded item's requester gets `result_of(item)`."""
        # The sessions batches are written in (tests hold a commit open through it).
        self.session_factory = session_factory
        self.write = write
        self.refusals = refusals
        self.name = name
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.on_committed = on_committed
        self.result_of = result_of
        self._pending: deque[tuple[T, Future | asyncio.Future, asyncio.AbstractEventLoop | None]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        # Figures for the benchmarks and logs.
        self.batches = 0
        self.recorded = 0
        self.largest_batch = 0

    def submit(self, item: T) -> Future:
        """Queue an item from any thread; the future resolves after its batch commits (or fails)."""
        future: Future = Future()
        self._enqueue(item, future, None)
        return future

    def submit_async(self, item: T) -> asyncio.Future:
        """Queue an item from the running event loop; await the result (the item, recorded)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._enqueue(item, future, loop)
        return future

    def _enqueue(self, item: T, future, loop) -> None:
        with self._cond:
            if self._closed:
                raise self.refusals.stopped()
            if len(self._pending) >= self.max_queue:
                raise self.refusals.queue_full(self.max_queue)
            self._pending.append((item, future, loop))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify()

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def close(self, timeout: float = 60) -> None:
        """Take no more items; write what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:  # only if the thread could not finish: answer, never leave a request waiting
            left = list(self._pending)
            self._pending.clear()
        if left:
            self._answer(left, [self.refusals.not_recorded() for _ in left])
            log.error("group_commit_stopped_with_items_waiting", writer=self.name, items=len(left))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.max_batch))]
            self._write_batch(batch)

    def _answer(self, batch: list, outcomes: Sequence[Problem | None]) -> None:
        """Settle each requester's future; each event loop is woken once."""
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for (item, future, loop), outcome in zip(batch, outcomes, strict=True):
            result = self.result_of(item) if outcome is None else None
            if loop is None:
                _settle(future, result, outcome)
            else:
                by_loop.setdefault(loop, []).append((future, result, outcome))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # that loop has closed: nobody is waiting there any more
                pass

    def _write_batch(self, batch: list) -> None:
        items = [item for item, _, _ in batch]
        try:
            with self.session_factory() as session:
                outcomes = self.write(session, items)
                if len(outcomes) != len(items):
                    raise RuntimeError(f"{len(outcomes)} outcomes for {len(items)} items")
                session.commit()
        except Exception as exc:  # the whole batch rolled back: nobody is told it was recorded
            log.error("group_commit_batch_failed", writer=self.name, items=len(batch), error=repr(exc))
            self._answer(batch, [self.refusals.not_recorded() for _ in batch])
            return
        recorded = [item for item, outcome in zip(items, outcomes, strict=True) if outcome is None]
        self.batches += 1
        self.recorded += len(recorded)
        self.largest_batch = max(self.largest_batch, len(batch))
        if recorded and self.on_committed is not None:
            try:
                self.on_committed(recorded)
            except Exception as exc:  # bookkeeping must not fail what is already committed
                log.warning("group_commit_bookkeeping_failed", writer=self.name, error=repr(exc))
        self._answer(batch, outcomes)
