"""The voting service: meetings, quorum, ballots, tallies."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.middleware import Middleware
from sqlalchemy import func, select

from services.voting.ballots.endpoints import CAST_WAIT_SECONDS, cast_writer
from services.voting.ballots.endpoints import router as ballots_router
from services.voting.ballots.fastpath import CastFastPath
from services.voting.meetings.endpoints import router as meetings_router
from services.voting.nomination.endpoints import router as nomination_router
from services.voting.public.endpoints import router as public_router
from services.voting.public.fastpath import PublicVoteFastPath
from services.voting.publication.endpoints import BOARD_CACHE_TTL
from services.voting.publication.endpoints import router as publication_router
from services.voting.records.endpoints import router as records_router
from services.voting.selection.endpoints import router as selection_router
from services.voting.verification.endpoints import router as verification_router
from services.voting.handlers import HANDLERS
from services.voting.models import SECURITY_MODELS, Ballot, InboxMessage, OutboxMessage, WEBHOOKS
from services.voting.settings import VotingSettings
from shared.web.caching import ResponseCache
from shared.db import Database
from shared.ops.runtime import ServiceRuntime
from shared.ops.service import create_service_app

def open_ballots_metric(runtime: ServiceRuntime) -> Iterable[Metric]:
    with runtime.db.session() as session:
        rows = session.execute(select(Ballot.kind, func.count(Ballot.id)).where(Ballot.status == "open").group_by(Ballot.kind)).all()
    gauge = GaugeMetricFamily("pingyi_ballots_open", "Ballots open for voting", labels=["kind"])
    for kind, count in rows:
        gauge.add_metric([kind], count)
    yield gauge


def create_app(settings: VotingSettings | None = None, db: Database | None = None) -> FastAPI:
    app = create_service_app(
        security_models=SECURITY_MODELS,
        webhooks=WEBHOOKS,
        name="voting",
        title="Pingyi voting 评议·表决",
        description="Meetings, rosters and quorum, agenda items, ballots, casting and tallies.",
        settings=settings or VotingSettings(),
        outbox_model=OutboxMessage,
        inbox_model=InboxMessage,
        # The public vote first: routes are matched in order and it is the hottest.
        routers=[public_router, verification_router, meetings_router, ballots_router, selection_router, nomination_router,
                 publication_router, records_router],
        handlers=HANDLERS,
        db=db,
        extra_metrics=[open_ballots_metric],
    )
    app.state.votes_cast = app.state.metrics.counter("pingyi_votes_cast", "Votes accepted", ["kind"])
    # Ballot status as members' devices poll it, dropped when a change to the ballot commits.
    app.state.ballot_cache = ResponseCache(ttl=1.0)
    # The chamber board as every screen in the hall polls it.
    app.state.board_cache = ResponseCache(ttl=BOARD_CACHE_TTL)
    # A member's ordinary cast skips routing and dependency solving (ballots/fastpath.py);
    # inside the request-context middleware, so ids, metrics and logs stay as for any request,
    # and inside the request limits, so its body has the same cap as the route's.
    app.user_middleware.insert(2, Middleware(CastFastPath, writer=cast_writer, wait_seconds=CAST_WAIT_SECONDS))
    # The public vote's three steps likewise (public/fastpath.py): the same route functions, without routing.
    app.user_middleware.insert(3, Middleware(PublicVoteFastPath))
    return app
