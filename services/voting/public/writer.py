"""Group commit for the public vote (`shared.web.group_commit`): requests put checked
votes on an in-process queue; one writer thread takes whatever is waiting (up to
`max_batch`), writes it in one transaction (`service.record_votes`) and only after
the commit resolves each request's future: the vote recorded, or the refusal it gets.

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

from collections.abc import Callable

from services.voting.public.service import VoteIn, record_votes
from shared.db import Database
from shared.web.group_commit import GroupCommitWriter, Refusals, Write
from services.voting.refusals import RETRY_AFTER, queue_full, writer_stopped
from shared.web.problems import Problem

def not_recorded() -> Problem:
    return Problem(503, "vote-not-recorded", "Vote not recorded 投票未记录，请重试",
                   "the vote could not be written and nothing was recorded; retry (a retry of a vote that was in "
                   "fact recorded answers identity-already-voted)", headers=RETRY_AFTER)


VOTE_REFUSALS = Refusals(not_recorded=not_recorded, queue_full=queue_full, stopped=writer_stopped)


class VoteWriter(GroupCommitWriter[VoteIn]):
    def __init__(self, db: Database, *, max_batch: int = 500, max_queue: int = 20_000,
                 on_recorded: Callable[[dict[str, int]], None] | None = None, write: Write = record_votes) -> None:
        """`on_recorded({poll_id: votes})` runs after each commit that recorded votes, before
        their requesters are answered (metrics, dropping cached turnout)."""

        def committed(votes: list[VoteIn]) -> None:
            by_poll: dict[str, int] = {}
            for vote in votes:
                by_poll[vote.poll_id] = by_poll.get(vote.poll_id, 0) + 1
            on_recorded(by_poll)

        super().__init__(db.sessionmaker, write, VOTE_REFUSALS, name="public-vote-writer", max_batch=max_batch,
                         max_queue=max_queue, on_committed=committed if on_recorded is not None else None,
                         result_of=lambda vote: None)
