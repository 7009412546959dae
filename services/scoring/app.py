"""The scoring service: year plans, composite scores and slates, satisfaction grades."""

from __future__ import annotations

from fastapi import FastAPI

from services.scoring.domain.satisfaction import SatisfactionRule
from services.scoring.handlers import handlers
from services.scoring.models import SECURITY_MODELS, InboxMessage, OutboxMessage, WEBHOOKS
from services.scoring.composite.endpoints import router as composite_router
from services.scoring.hotline.endpoints import router as hotline_router
from services.scoring.plans.endpoints import router as plans_router
from services.scoring.publication.endpoints import router as publication_router
from services.scoring.satisfaction.endpoints import router as satisfaction_router
from services.scoring.settings import ScoringSettings
from shared.db import Database
from shared.ops.service import create_service_app


def create_app(settings: ScoringSettings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or ScoringSettings()
    rule = SatisfactionRule(denominator=settings.satisfaction_denominator, grades=settings.satisfaction_grades)
    return create_service_app(
        security_models=SECURITY_MODELS,
        webhooks=WEBHOOKS,
        name="scoring",
        title="Pingyi scoring 评议·评分",
        description="Grades satisfaction votes; year plans, hotline metrics and composite scores.",
        settings=settings,
        outbox_model=OutboxMessage,
        inbox_model=InboxMessage,
        routers=[plans_router, composite_router, hotline_router, satisfaction_router, publication_router],
        handlers=handlers(rule),
        db=db,
        body_limits={"/v1/hotline/work-order-imports": settings.hotline_import_max_bytes},
    )
