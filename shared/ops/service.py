"""A service's FastAPI app: its runtime (shared.ops.runtime), middleware, problem
handlers, rate limiter, audit hook, the admin, webhook and health routes, the
AsyncAPI document and /metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from shared.db import Database
from shared.messaging.asyncapi import asyncapi_document
from shared.messaging.inbox import Handler, InboxMixin
from shared.messaging.outbox import OutboxMixin
from shared.messaging.webhooks import WebhookModels, install_fanout
from shared.ops.admin import admin_router
from shared.ops.logging import configure_logging
from shared.ops.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shared.ops.metrics import ExtraMetrics, ServiceMetrics, webhook_metrics
from shared.ops.runtime import ServiceRuntime, get_runtime
from shared.ops.settings import ServiceSettings
from shared.ops.webhook_endpoints import webhooks_router
from shared.security.access import install_audit
from shared.security.tables import SecurityModels
from shared.web.caching import PollFastPath
from shared.web.http import RequestContextMiddleware, RequestLimits
from shared.web.openapi import install_openapi
from shared.web.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers
from shared.web.ratelimit import RateLimiter

log = structlog.get_logger(__name__)


def health_router() -> APIRouter:
    router = APIRouter(prefix="/healthz", tags=["health"])

    @router.get("/live", summary="The process is up (no I/O)",
                description="The orchestrator's liveness probe: answers `{\"status\": \"ok\"}` while the process "
                            "serves HTTP, touching neither database nor broker. No credential; changes nothing.")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/ready",
        summary="The database and the broker answer",
        description="The orchestrator's readiness probe (and the load balancer's): checks the database, the broker "
                    "and the outbox relay, event consumer and webhook dispatcher threads; answers each check's "
                    "state. No credential; changes nothing. Refusals: `not-ready` (503, naming what is down).",
        responses={503: {"description": "a dependency is down", "content": {PROBLEM_MEDIA_TYPE: {}}}},
    )
    def ready(request: Request):
        checks = get_runtime(request).readiness()
        down = sorted(name for name, state in checks.items() if state != "ok")
        if down:
            problem = Problem(503, "not-ready", "Not ready 服务未就绪", f"down: {', '.join(down)}", checks=checks)
            return JSONResponse(problem.body(request.url.path), status_code=503, media_type=PROBLEM_MEDIA_TYPE)
        return {"status": "ok", "checks": checks}

    return router


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    settings: ServiceSettings,
    outbox_model: type[OutboxMixin],
    inbox_model: type[InboxMixin],
    routers: Sequence[APIRouter],
    handlers: Mapping[str, Handler] | None = None,
    db: Database | None = None,
    extra_metrics: Sequence[ExtraMetrics] = (),
    poll_fast_paths: Sequence[tuple] = (),
    security_models: SecurityModels,
    body_limits: Mapping[str, int] | None = None,
    webhooks: WebhookModels | None = None,
) -> FastAPI:
    """`body_limits`: route path template → the most bytes its body may have, for
    routes taking more than `settings.body_limit_bytes` (an import, attachments)."""
    configure_logging(settings.log_level, json=settings.log_json)
    runtime = ServiceRuntime(
        name=name,
        settings=settings,
        db=db or Database(settings.database_url, pool_size=settings.db_pool_size),
        outbox_model=outbox_model,
        inbox_model=inbox_model,
        handlers=handlers or {},
        audit_model=security_models.audit_entry,
        webhooks=webhooks,
    )
    if webhooks is not None:
        install_fanout(outbox_model, webhooks)
        extra_metrics = [*extra_metrics, webhook_metrics]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime.start()
        log.info("service_started", service=name, database=runtime.db.backend)
        try:
            yield
        finally:
            runtime.stop()
            log.info("service_stopped", service=name)

    # FastAPI's OpenTelemetry bridge off: the services export Prometheus metrics and structlog
    # lines, and the bridge's per-request checks were about 5 % of a public-vote request's CPU.
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    metrics = ServiceMetrics(runtime, extra_metrics)
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.security_models = security_models
    app.state.rate_limiter = RateLimiter(settings.rate_limit_storage_uri, settings.rate_limits(),
                                         shared=settings.shared_rate_limits(), db=runtime.db,
                                         counter_model=security_models.rate_limit_counter)
    if not getattr(runtime.db, "audit_installed", False):
        install_audit(runtime.db.sessionmaker, security_models.audit_entry)
        runtime.db.audit_installed = True
    app.state.body_limits = dict(body_limits or {})
    if poll_fast_paths:
        app.add_middleware(PollFastPath, routes=list(poll_fast_paths))
    # Second only to the request context: no route, fast path included, sees a body over its cap.
    app.add_middleware(RequestLimits, default_limit=settings.body_limit_bytes, route_limits=app.state.body_limits)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # outermost: ids and metrics for all
    install_problem_handlers(app)
    # The service's routes first (matched in order, hottest first), probes after.
    for router in routers:
        app.include_router(router)
    if webhooks is not None:
        app.include_router(webhooks_router(name, webhooks))
    app.include_router(admin_router(name))
    app.include_router(health_router())
    install_openapi(app, lambda path: app.state.body_limits.get(path, settings.body_limit_bytes))

    events_contract = asyncapi_document(name)

    @app.get("/asyncapi.json", tags=["events"], summary="AsyncAPI 3 document of the events this service produces",
             description="An integrator reads the contract of the events this service publishes: channels (topics), "
                         "the envelope, message key and headers, each payload's JSON Schema and version, generated "
                         "from `shared/messaging/events.py` (the four topics are in `docs/asyncapi.yaml`). No credential; "
                         "changes nothing.")
    def asyncapi() -> dict:
        return events_contract

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response,
             description="Prometheus scrapes request counts and latencies, outbox backlog, consumer lag, webhook "
                         "deliveries and this service's own gauges, in the text exposition format. No credential "
                         "(keep it off the public proxy); changes nothing.")
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)
    return app
