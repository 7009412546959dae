"""Prometheus metrics of one service process, served at /metrics.

Each app has its own registry (several apps can live in one test process).
Figures that live elsewhere — outbox backlog, consumer lag and counts, open
ballots — are read when scraped, so the hot paths pay nothing for them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from shared.messaging.outbox import outbox_backlog
from shared.messaging.webhooks import ACTIVE, DISABLED, FAILED, PAUSED, PENDING, WebhookModels

if TYPE_CHECKING:
    from shared.ops.runtime import ServiceRuntime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ExtraMetrics = Callable[["ServiceRuntime"], Iterable[Metric]]


class RuntimeCollector(Collector):
    """Outbox backlog, relay and consumer figures, read at scrape time."""

    def __init__(self, runtime: ServiceRuntime, extra: Iterable[ExtraMetrics] = ()) -> None:
        self.runtime = runtime
        self.extra = list(extra)

    def collect(self) -> Iterable[Metric]:
        runtime = self.runtime
        pending, oldest = outbox_backlog(runtime.db, runtime.outbox_model)
        yield GaugeMetricFamily("pingyi_outbox_pending", "Outbox rows not yet acknowledged by the broker", value=pending)
        age = (dt.datetime.now(dt.UTC) - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily("pingyi_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row", value=age)

        relay = runtime.relay
        published = CounterMetricFamily("pingyi_events_published", "Events the relay published and marked sent")
        published.add_metric([], relay.published_total if relay else 0)
        yield published
        failures = CounterMetricFamily("pingyi_relay_failures", "Failed publish passes, by cause (exception class)",
                                       labels=["cause"])
        for cause, value in sorted((relay.failures_by_cause if relay else {}).items()):
            failures.add_metric([cause], value)
        yield failures
        for name, documentation, value in (
            ("pingyi_relay_producer_rebuilds", "Producers closed and built anew after failures",
             relay.rebuilds_total if relay else 0),
            ("pingyi_relay_resent", "Events published again because the broker no longer held them",
             relay.resent_total if relay else 0),
            ("pingyi_relay_broker_losses", "Partitions found to have lost acknowledged events",
             relay.broker_losses_total if relay else 0),
        ):
            counter = CounterMetricFamily(name, documentation)
            counter.add_metric([], value)
            yield counter
        yield GaugeMetricFamily("pingyi_relay_failures_in_row", "Publish passes failed since the last success",
                                value=relay.failures_in_row if relay else 0)
        yield GaugeMetricFamily("pingyi_relay_leader", "1 when this replica's relay holds the lease and publishes",
                                value=1 if relay is not None and relay.leading else 0)

        consumer = runtime.consumer
        handled = CounterMetricFamily("pingyi_events_consumed", "Events taken from the broker, by outcome", labels=["outcome"])
        lag = GaugeMetricFamily("pingyi_consumer_lag", "Messages behind the end of each partition", labels=["topic", "partition"])
        if consumer is not None:
            for outcome, value in (
                ("handled", consumer.handled_total),
                ("duplicate", consumer.duplicates_total),
                ("failed", consumer.failed_total),
                ("rejected", consumer.rejected_total),
                ("parked", consumer.parked_total),
            ):
                handled.add_metric([outcome], value)
            for (topic, partition), behind in sorted(consumer.lag.items()):
                lag.add_metric([topic, str(partition)], behind)
        reconnects = CounterMetricFamily("pingyi_consumer_reconnects", "Times the consumer regained its partitions after losing them")
        reconnects.add_metric([], consumer.reconnects_total if consumer is not None else 0)
        reformed = CounterMetricFamily("pingyi_consumer_groups_reformed",
                                       "Times the consumer group was deleted and formed again because no join completed in it")
        reformed.add_metric([], consumer.groups_reformed_total if consumer is not None else 0)
        yield handled
        yield lag
        yield reconnects
        yield reformed
        for extra in self.extra:
            yield from extra(runtime)


class ServiceMetrics:
    def __init__(self, runtime: ServiceRuntime, extra: Iterable[ExtraMetrics] = ()) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "pingyi_http_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=self.registry
        )
        self.http_latency = Histogram(
            "pingyi_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.registry.register(RuntimeCollector(runtime, extra))

    def counter(self, name: str, documentation: str, labels: Iterable[str] = ()) -> Counter:
        return Counter(name, documentation, list(labels), registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, started: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_latency.labels(method, route).observe(time.perf_counter() - started)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def webhook_metrics(runtime: ServiceRuntime) -> Iterable[Metric]:
    """Subscriptions by state (a disabled one needs a person) and deliveries waiting."""
    models: WebhookModels | None = getattr(runtime, "webhooks", None)
    if models is None:
        return
    s, d = models.subscription, models.delivery
    with runtime.db.read_sessionmaker() as session:
        by_status = dict(session.execute(select(s.status, func.count(s.id)).group_by(s.status)).all())
        pending = session.execute(select(func.count(d.id)).where(d.status == PENDING)).scalar_one()
        failed = session.execute(select(func.count(d.id)).where(d.status == FAILED)).scalar_one()
    subscriptions = GaugeMetricFamily("pingyi_webhook_subscriptions", "Webhook subscriptions by state", labels=["status"])
    for status in (ACTIVE, PAUSED, DISABLED):
        subscriptions.add_metric([status], by_status.get(status, 0))
    yield subscriptions
    yield GaugeMetricFamily("pingyi_webhook_deliveries_pending", "Webhook deliveries not yet acknowledged", value=pending)
    yield GaugeMetricFamily("pingyi_webhook_deliveries_failed", "Webhook deliveries given up after the retry window",
                            value=failed)
    dispatcher = getattr(runtime, "webhook_dispatcher", None)
    if dispatcher is not None:
        yield CounterMetricFamily("pingyi_webhook_attempts_failed", "Failed delivery attempts by this process",
                                  value=dispatcher.failed_attempts_total)
