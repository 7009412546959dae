"""Limits shared through the database (`DatabaseFixedWindow`): hits from many
requests at once are written in batches, and each request still gets its own
exact count, so a limit of N lets exactly N through whatever the concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from limits import parse
from sqlalchemy import select


def test_concurrent_hits_are_counted_exactly_and_the_limit_lets_exactly_its_number_through(voting):
    counter = voting.app.state.rate_limiter.database
    item = parse("50/hour")
    keys = ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
    with ThreadPoolExecutor(max_workers=32) as pool:
        verdicts = list(pool.map(lambda n: (keys[n % 3], counter.hit(item, "public_vote_ip", keys[n % 3])), range(240)))
    for key in keys:
        mine = [v for k, v in verdicts if k == key]
        assert len(mine) == 80
        assert sum(v.allowed for v in mine) == 50, key
        assert sorted(v.remaining for v in mine if v.allowed) == list(range(50))  # each hit its own count
        assert all(v.remaining == 0 and int(v.headers()["Retry-After"]) >= 1 for v in mine if not v.allowed)
    model = voting.app.state.security_models.rate_limit_counter
    with voting.db.session() as session:
        stored = dict(session.execute(select(model.key, model.hits).where(model.name == "public_vote_ip")).all())
    assert stored == {key: 80 for key in keys}
    assert counter.writer.batches < 240  # concurrent hits shared transactions


def test_a_forged_pass_is_refused_before_it_uses_up_the_address_limit(voting):
    voting.app.state.rate_limiter.limits["public_vote_ip"] = parse("2/minute")
    answers = [voting.anonymous.post("/v1/public-polls/no-such-poll/votes", json={"pass": "vp1.x", "choices": ["x"]})
               for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 401]
    model = voting.app.state.security_models.rate_limit_counter
    with voting.db.session() as session:
        assert session.scalars(select(model).where(model.name == "public_vote_ip")).all() == []
