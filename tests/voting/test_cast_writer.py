"""The cast writer's own guarantees, on a real database: nothing is answered
before its batch commits, a failed batch answers every cast in it with 503 and
records nothing, and a closing writer writes what is queued first."""

from __future__ import annotations

import asyncio

import pytest

from services.voting.ballots.casting import CastIn, CastWriter
from services.voting.ballots.schemas import VoteCast
from shared.db import Database
from shared.web.problems import Problem


def casts(n: int) -> list[CastIn]:
    return [CastIn(ballot_id="b1", data=VoteCast(member_id=f"m{i:02d}", choice="satisfied"), principal_name=f"member:m{i:02d}",
                   token_member_id=f"m{i:02d}", token_meeting_id="mt") for i in range(n)]


@pytest.fixture
def db(backend, fresh_database_url):
    database = Database(fresh_database_url(backend, "writer"))
    yield database
    database.dispose()


def test_each_cast_gets_its_batchs_outcome_after_the_commit(db):
    committed, futures, answered_before_commit = [], {}, []

    def write(session, batch):
        session.connection()  # a real transaction on the database
        answered_before_commit.append(any(id(c) in futures and futures[id(c)].done() for c in batch))
        return [None if c.data.member_id != "m01" else Problem(409, "already-voted", "Already voted") for c in batch]

    writer = CastWriter(db, write, on_committed=lambda recorded: committed.append(len(recorded)))

    async def main():
        for cast in casts(5):
            futures[id(cast)] = writer.submit(cast)
        return await asyncio.gather(*futures.values(), return_exceptions=True)

    outcomes = asyncio.run(main())
    writer.close()
    assert [o.status if isinstance(o, Problem) else o.data.member_id for o in outcomes] == ["m00", 409, "m02", "m03", "m04"]
    assert sum(committed) == 4
    assert not any(answered_before_commit)


def test_a_failed_batch_answers_every_cast_in_it_with_503(db):
    def write(session, batch):
        raise RuntimeError("the database went away")

    writer = CastWriter(db, write)

    async def main():
        return await asyncio.gather(*[writer.submit(c) for c in casts(3)], return_exceptions=True)

    outcomes = asyncio.run(main())
    writer.close()
    assert [(o.status, o.slug) for o in outcomes] == [(503, "vote-not-recorded")] * 3


def test_a_closed_writer_takes_no_more_and_a_full_queue_refuses(db):
    writer = CastWriter(db, lambda session, batch: [None] * len(batch), max_queue=0)

    async def main():
        with pytest.raises(Problem) as full:
            writer.submit(casts(1)[0])
        assert (full.value.status, full.value.slug) == (503, "vote-queue-full")
        writer.close()
        with pytest.raises(Problem) as stopped:
            writer.submit(casts(1)[0])
        assert stopped.value.slug == "vote-writer-stopped"

    asyncio.run(main())
