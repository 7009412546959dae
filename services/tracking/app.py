"""The tracking service: evaluation cases, follow-up investigations, re-report scheduling."""

from __future__ import annotations

from fastapi import FastAPI

from services.tracking.cases.endpoints import router as cases_router
from services.tracking.cases.service import record_grade, vote_marked_unsatisfied_handler
from services.tracking.models import InboxMessage, OutboxMessage
from services.tracking.settings import TrackingSettings
from shared.db import Database
from shared.events import Topic
from shared.service import create_service_app


def create_app(settings: TrackingSettings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or TrackingSettings()
    return create_service_app(
        name="tracking",
        title="Pingyi tracking 评议·整改跟踪",
        description="Evaluation cases, special investigations, re-report scheduling and public progress.",
        settings=settings,
        outbox_model=OutboxMessage,
        inbox_model=InboxMessage,
        routers=[cases_router],
        handlers={
            Topic.VOTE_MARKED_UNSATISFIED.value: vote_marked_unsatisfied_handler(settings.investigation_days, settings.research_group),
            Topic.SCORE_COMPUTED.value: record_grade,
        },
        db=db,
    )
