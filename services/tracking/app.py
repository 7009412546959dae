"""The tracking service: evaluation cases opened by the selection, milestones,
commitments and progress, review meeting records, follow-up and escalation,
public progress; deputies' motions and audit findings."""

from __future__ import annotations

from fastapi import FastAPI

from services.tracking.audits.endpoints import router as audits_router
from services.tracking.cases.endpoints import router as cases_router
from services.tracking.handlers import handlers
from services.tracking.commitments.endpoints import router as commitments_router
from services.tracking.escalation.endpoints import router as escalation_router
from services.tracking.motions.endpoints import router as motions_router
from services.tracking.public.endpoints import router as public_router
from services.tracking.review.endpoints import router as review_router
from services.tracking.models import SECURITY_MODELS, InboxMessage, OutboxMessage, WEBHOOKS
from services.tracking.public.status_cache import STATUS_CACHE, status_key
from services.tracking.settings import TrackingSettings
from shared.db import Database
from shared.ops.service import create_service_app


def create_app(settings: TrackingSettings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or TrackingSettings()
    return create_service_app(
        security_models=SECURITY_MODELS,
        webhooks=WEBHOOKS,
        name="tracking",
        title="Pingyi tracking 评议·整改跟踪",
        description="Evaluation cases, rectification commitments, review meetings, special investigations, re-report scheduling, "
        "escalation and public progress; deputies' motions (议案办理) and audit-findings rectification (审计查出问题整改).",
        settings=settings,
        outbox_model=OutboxMessage,
        inbox_model=InboxMessage,
        # Public first: routes match in order, and mobile polling is the hot path.
        routers=[
            public_router, cases_router, commitments_router, review_router, escalation_router, motions_router, audits_router,
        ],
        poll_fast_paths=[
            (r"/v1/public/cases/(?P<case_id>[^/]+)/status", "/v1/public/cases/{case_id}/status", STATUS_CACHE, status_key, 30),
        ],
        handlers=handlers(settings),
        db=db,
        body_limits={"/v1/commitments/{commitment_id}/progress": settings.progress_body_max_bytes},
    )
