"""What every service process is made of: the app, its database, its outbox
relay and its event consumer, started and stopped together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from shared.messaging.asyncapi import asyncapi_document
from shared.security.audit import AuditLinker
from shared.db import Database
from shared.messaging.events import ALL_TOPICS
from shared.messaging.inbox import EventConsumer, Handler, InboxMixin
from shared.messaging.kafka import broker_reachable
from shared.lease import LeaderLease
from shared.web.caching import PollFastPath
from shared.web.http import RequestContextMiddleware, RequestLimits
from shared.ops.logging import configure_logging
from shared.ops.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shared.ops.metrics import ExtraMetrics, ServiceMetrics
from shared.messaging.outbox import OutboxMixin, OutboxRelay
from shared.web.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers
from shared.ops.admin import admin_router
from shared.web.openapi import install_openapi
from shared.web.ratelimit import RateLimiter
from shared.security.access import SecurityModels, install_audit, request_audit_context, set_audit_context
from shared.ops.settings import ServiceSettings
from shared.messaging.webhooks import WebhookDispatcher, WebhookModels, install_fanout, webhook_dispatcher, webhook_metrics

log = structlog.get_logger(__name__)


@dataclass
class ServiceRuntime:
    """The background parts of one service process."""

    name: str
    settings: ServiceSettings
    db: Database
    outbox_model: type[OutboxMixin]
    inbox_model: type[InboxMixin]
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    relay: OutboxRelay | None = None
    consumer: EventConsumer | None = None
    audit_model: type | None = None
    audit_linker: AuditLinker | None = None
    webhooks: WebhookModels | None = None
    webhook_dispatcher: WebhookDispatcher | None = None

    def _lease(self, loop: str) -> LeaderLease:
        """One replica per service runs each single-writer loop (Postgres; SQLite is one process)."""
        return LeaderLease(self.db, f"pingyi.{self.name}.{loop}", retry_interval=self.settings.lease_retry_interval)

    def start(self) -> None:
        kafka = self.settings.kafka
        settings = self.settings
        if settings.run_audit_linker and self.audit_model is not None:
            self.audit_linker = AuditLinker(self.db, self.audit_model, name=self.name,
                                            interval=settings.audit_link_interval,
                                            idle_interval=settings.audit_link_idle_interval, lease=self._lease("audit-linker"))
            self.audit_linker.start()
        if settings.run_relay:
            self.relay = OutboxRelay(
                self.db,
                self.outbox_model,
                kafka,
                name=self.name,
                poll_interval=settings.relay_poll_interval,
                retry_interval=settings.relay_retry_interval,
                topics=ALL_TOPICS,
                backoff_max=settings.relay_backoff_max,
                rebuild_after=settings.relay_rebuild_after,
                loss_check_interval=settings.relay_loss_check_interval,
                resend_horizon=dt.timedelta(hours=settings.relay_resend_horizon_hours),
                lease=self._lease("outbox-relay"),
            )
            self.relay.start()
        if self.settings.run_consumer and self.handlers:
            self.consumer = EventConsumer(
                self.db,
                self.inbox_model,
                self.handlers,
                kafka,
                name=self.name,
                group_id=f"pingyi-{self.name}",
                max_attempts=settings.consumer_max_attempts,
                idle_after=settings.consumer_idle_after,
            )
            self.consumer.start()
        if self.settings.run_webhooks and self.webhooks is not None:
            self.webhook_dispatcher = webhook_dispatcher(self)
            self.webhook_dispatcher.start()

    def stop(self) -> None:
        # Stop taking events first, then flush what is left in the outbox.
        if self.consumer is not None:
            self.consumer.stop()
        if self.relay is not None:
            self.relay.close()
        if self.webhook_dispatcher is not None:
            self.webhook_dispatcher.close()
        if self.audit_linker is not None:
            self.audit_linker.stop()  # links what the last requests wrote

    def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            self.db.ping()
            checks["database"] = "ok"
        except Exception as exc:  # report, never raise, from a probe
            checks["database"] = f"down: {exc.__class__.__name__}"
        if self.settings.run_relay or self.settings.run_consumer:
            checks["broker"] = "ok" if broker_reachable(self.settings.kafka) else "down: unreachable"
        if self.relay is not None:
            checks["outbox_relay"] = self._relay_state()
        if self.consumer is not None:
            checks["event_consumer"] = self._consumer_state()
        if self.webhook_dispatcher is not None:
            checks["webhook_dispatcher"] = "ok" if self.webhook_dispatcher.alive else "down: stopped"
        return checks

    def _relay_state(self) -> str:
        relay, settings = self.relay, self.settings
        if not relay.alive:
            return "down: stopped"
        if relay.failures_in_row >= settings.relay_failing_after:
            return f"down: {relay.failures_in_row} publish passes failed in a row ({relay.last_error})"
        try:
            _, oldest = relay.backlog()
        except Exception as exc:  # the database check reports it
            return f"unknown: {exc.__class__.__name__}"
        waited = (dt.datetime.now(dt.UTC) - oldest).total_seconds() if oldest else 0.0
        if waited > settings.relay_stuck_after:
            # Standbys report it too: the events wait whichever replica leads.
            return f"down: oldest pending event waits {waited:.0f}s (limit {settings.relay_stuck_after:.0f}s)"
        return "ok"

    def _consumer_state(self) -> str:
        consumer = self.consumer
        if not consumer.alive:
            return "down: stopped"
        silent = consumer.seconds_since_poll()
        limit = self.settings.kafka_max_poll_interval_ms / 1000
        if silent > limit:
            return f"down: {consumer.name} has not polled for {silent:.0f}s (max poll interval {limit:.0f}s)"
        return "ok"


def get_runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request; endpoints commit explicitly, the rest rolls back.

    Reads get the database's reader (on SQLite: no write lock taken)."""
    db = request.app.state.runtime.db
    if request.method in _READ_METHODS:
        with db.read_sessionmaker() as session:
            yield session
        return
    with db.sessionmaker() as session:
        # Whatever this request commits is appended to the audit chain with it.
        set_audit_context(session, lambda: request_audit_context(request), pending=True)
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


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

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
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
        from shared.ops.webhook_endpoints import webhooks_router  # it takes SessionDep from this module

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
