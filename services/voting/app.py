"""The voting service: meetings, quorum, ballots, tallies."""

from __future__ import annotations

from fastapi import FastAPI

from services.voting.agenda.service import handle_rereport_scheduled
from services.voting.ballots.endpoints import router as ballots_router
from services.voting.meetings.endpoints import router as meetings_router
from services.voting.models import InboxMessage, OutboxMessage
from services.voting.settings import VotingSettings
from shared.db import Database
from shared.events import Topic
from shared.service import create_service_app

HANDLERS = {Topic.REREPORT_SCHEDULED.value: handle_rereport_scheduled}


def create_app(settings: VotingSettings | None = None, db: Database | None = None) -> FastAPI:
    return create_service_app(
        name="voting",
        title="Pingyi voting 评议·表决",
        description="Meetings, rosters and quorum, agenda items, ballots, casting and tallies.",
        settings=settings or VotingSettings(),
        outbox_model=OutboxMessage,
        inbox_model=InboxMessage,
        routers=[meetings_router, ballots_router],
        handlers=HANDLERS,
        db=db,
    )
