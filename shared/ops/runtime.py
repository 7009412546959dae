"""What every service process is made of: its database, outbox relay, event
consumer, audit linker and webhook dispatcher, started and stopped together;
and the database session each request gets from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from shared.db import Database
from shared.lease import LeaderLease
from shared.messaging.events import ALL_TOPICS
from shared.messaging.inbox import EventConsumer, Handler, InboxMixin
from shared.messaging.kafka import broker_reachable
from shared.messaging.outbox import OutboxMixin, OutboxRelay
from shared.messaging.webhooks import RetryPolicy, UrlPolicy, WebhookDispatcher, WebhookModels
from shared.ops.settings import ServiceSettings
from shared.security.access import request_audit_context, set_audit_context
from shared.security.audit import AuditLinker


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


def webhook_dispatcher(runtime: ServiceRuntime) -> WebhookDispatcher:
    settings = runtime.settings
    policy = RetryPolicy(base_seconds=settings.webhook_retry_base_seconds,
                         max_interval_seconds=settings.webhook_retry_max_interval_seconds,
                         window_seconds=settings.webhook_retry_window_seconds,
                         timeout_seconds=settings.webhook_timeout_seconds)
    return WebhookDispatcher(runtime.db, runtime.webhooks, name=runtime.name, policy=policy,
                             urls=UrlPolicy.parse(settings.webhook_allowed_hosts, settings.webhook_allowed_networks),
                             poll_interval=settings.webhook_poll_interval)


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
