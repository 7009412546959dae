"""Group commit for the public vote: requests put checked votes on an in-process
queue; one writer thread takes whatever is waiting (up to `max_batch`), writes it
in one transaction (`service.record_votes`) and only after the commit resolves each
request's future: None for a recorded vote, or the refusal it gets.

- Nothing is acknowledged before it is durably committed; a batch that fails is
  rolled back whole and every vote in it is answered with `vote-not-recorded` (503):
  no 201 for it, no half-written batch.
- The queue is bounded: beyond `max_queue` waiting votes a new one is refused
  (`vote-queue-full`, 503 with Retry-After), never dropped silently.
- `close()` stops taking votes and writes everything already queued before the
  thread ends (the service's shutdown calls it).

Batches form by themselves: while one commits, the next requests queue up.

A request on the event loop waits on an asyncio future (`submit_async`); the
writer wakes each loop once per batch, not once per vote. Every queued vote is
written: a requester that stops waiting does not take its vote back.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import structlog
from sqlalchemy.orm import Session

from services.voting.public.service import VoteIn, record_votes
from shared.db import Database
from shared.problems import Problem

log = structlog.get_logger(__name__)

RETRY_AFTER = {"Retry-After": "1"}


def queue_full(limit: int) -> Problem:
    return Problem(503, "vote-queue-full", "Too busy 投票繁忙，请稍后重试",
                   f"{limit} votes are waiting to be written; nothing was recorded, retry shortly", headers=RETRY_AFTER)


def writer_stopped() -> Problem:
    return Problem(503, "vote-writer-stopped", "Shutting down 服务正在停止",
                   "this process is stopping and takes no more votes; nothing was recorded, retry", headers=RETRY_AFTER)


def not_recorded() -> Problem:
    return Problem(503, "vote-not-recorded", "Vote not recorded 投票未记录，请重试",
                   "the vote could not be written and nothing was recorded; retry (a retry of a vote that was in "
                   "fact recorded answers identity-already-voted)", headers=RETRY_AFTER)


Write = Callable[[Session, Sequence[VoteIn]], list[Problem | None]]
# A queued vote, the future its requester waits on, and that future's event loop (None: a concurrent Future).
Pending = tuple[VoteIn, "Future | asyncio.Future", "asyncio.AbstractEventLoop | None"]


def _settle(future: Future | asyncio.Future, outcome: Problem | None) -> None:
    if future.done():  # the requester stopped waiting
        return
    if outcome is None:
        future.set_result(None)
    else:
        future.set_exception(outcome)


def _settle_all(settled: list[tuple[asyncio.Future, Problem | None]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)


class VoteWriter:
    def __init__(self, db: Database, *, max_batch: int = 500, max_queue: int = 20_000,
                 on_recorded: Callable[[dict[str, int]], None] | None = None, write: Write = record_votes) -> None:
        """`on_recorded({poll_id: votes})` runs after each commit that recorded votes, before
        their requesters are answered (metrics, dropping cached turnout)."""
        self.db = db
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.on_recorded = on_recorded
        self.write = write
        self._pending: deque[Pending] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        # Figures for the benchmark and logs.
        self.batches = 0
        self.recorded = 0
        self.largest_batch = 0

    def submit(self, vote: VoteIn) -> Future:
        """Queue a vote; the future resolves after its batch commits (or fails)."""
        future: Future = Future()
        self._enqueue((vote, future, None))
        return future

    def submit_async(self, vote: VoteIn) -> asyncio.Future:
        """Queue a vote from the running event loop; await the result."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._enqueue((vote, future, loop))
        return future

    def _enqueue(self, pending: Pending) -> None:
        with self._cond:
            if self._closed:
                raise writer_stopped()
            if len(self._pending) >= self.max_queue:
                raise queue_full(self.max_queue)
            self._pending.append(pending)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="public-vote-writer", daemon=True)
                self._thread.start()
            self._cond.notify()

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def close(self, timeout: float = 60) -> None:
        """Take no more votes; write what is queued, then stop the thread."""
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
            self._answer(left, [not_recorded() for _ in left])
            log.error("public_vote_writer_stopped_with_votes_waiting", votes=len(left))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.max_batch))]
            self._write_batch(batch)

    def _answer(self, batch: list[Pending], outcomes: Sequence[Problem | None]) -> None:
        """Settle each requester's future; each event loop is woken once."""
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for (_, future, loop), outcome in zip(batch, outcomes):
            if loop is None:
                _settle(future, outcome)
            else:
                by_loop.setdefault(loop, []).append((future, outcome))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # that loop has closed: nobody is waiting there any more
                pass

    def _write_batch(self, batch: list[Pending]) -> None:
        try:
            with self.db.sessionmaker() as session:
                outcomes = self.write(session, [vote for vote, _, _ in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} votes")
                session.commit()
        except Exception as exc:  # the whole batch rolled back: nobody gets a 201
            log.error("public_vote_batch_failed", votes=len(batch), error=repr(exc))
            self._answer(batch, [not_recorded() for _ in batch])
            return
        by_poll: dict[str, int] = {}
        for (vote, _, _), outcome in zip(batch, outcomes):
            if outcome is None:
                by_poll[vote.poll_id] = by_poll.get(vote.poll_id, 0) + 1
        self.batches += 1
        self.recorded += sum(by_poll.values())
        self.largest_batch = max(self.largest_batch, len(batch))
        if by_poll and self.on_recorded is not None:
            try:
                self.on_recorded(by_poll)
            except Exception as exc:  # bookkeeping must not fail votes already committed
                log.warning("public_vote_on_recorded_failed", error=repr(exc))
        self._answer(batch, outcomes)
