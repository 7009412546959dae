"""Webhooks: the service's own events pushed over HTTPS to systems that do not
speak Kafka, signed the Standard Webhooks way.

Each service owns the subscriptions for the events it produces (voting:
ballot.closed; scoring: score.computed and vote.marked_unsatisfied; tracking:
rereport.scheduled). That way a delivery is fed from the service's own
outbox inside the same transaction: when an outbox row is inserted, a
delivery row for every subscription to its type is inserted with it
(`install_fanout`), so an event that commits can never miss a webhook and
no second copy of the event log, nor a broker, stands in between. A single
owner of all four topics would have to consume Kafka and keep its own log.

The dispatcher (`WebhookDispatcher`, one thread per process) sends due
deliveries, claiming each with a lease so replicas do not send one twice
at the same time; it retries with exponential backoff for the retry window
(24 h by default), then gives the delivery up and disables the subscription,
naming why. Receivers dedupe by `webhook-id`, which is the event id.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, object_session
from standardwebhooks.webhooks import Webhook

from shared.background import BackgroundLoop
from shared.db import IdColumnType, UTCDateTime, new_id
from shared.messaging.events import utcnow
from shared.web.problems import Problem

if TYPE_CHECKING:
    from shared.db import Database
    from shared.messaging.outbox import OutboxMixin

log = structlog.get_logger(__name__)

_PENDING_FLAG = "pingyi.webhook_pending"

# Subscription states: deliveries are recorded in every state and sent only when active.
ACTIVE, PAUSED, DISABLED = "active", "paused", "disabled"
# Delivery states.
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class WebhookSubscriptionMixin:
    """Columns of a service's `webhook_subscriptions` table."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # HMAC key of the signatures (whsec_…); the receiver holds it too, so it cannot be stored hashed.
    secret: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default=ACTIVE)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class WebhookDeliveryMixin:
    """Columns of a service's `webhook_deliveries` table: one event for one subscription."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)

    @declared_attr
    def subscription_id(cls) -> Mapped[str]:
        return mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))

    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, doc="the event's envelope, byte for byte what Kafka carries")
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Retries stop this long after the window opened (creation, resume or redelivery).
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, doc="a dispatcher's lease while it sends")

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (
            UniqueConstraint("subscription_id", "event_id"),
            Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        )


@dataclass(frozen=True)
class WebhookModels:
    subscription: type[WebhookSubscriptionMixin]
    delivery: type[WebhookDeliveryMixin]
    topics: tuple[str, ...]
    """The event types this service produces, and so offers."""


# --- where a webhook may point (SSRF) ------------------------------------------


@dataclass(frozen=True)
class UrlPolicy:
    """`allowed_hosts` empty: any host; else the host must be one of them (`*.example.gov.cn` for a
    domain). Addresses that are not public (loopback, private, link-local, …) are refused unless they
    lie in `allowed_networks`; plain http is accepted only to those, everything else needs https."""

    allowed_hosts: tuple[str, ...] = ()
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, hosts: str, networks: str) -> UrlPolicy:
        return cls(
            allowed_hosts=tuple(h.strip().lower() for h in hosts.split(",") if h.strip()),
            allowed_networks=tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks.split(",") if n.strip()),
        )

    def _host_listed(self, host: str) -> bool:
        for allowed in self.allowed_hosts:
            if allowed.startswith("*.") and host.endswith(allowed[1:]):
                return True
            if host == allowed:
                return True
        return False

    def check(self, url: str) -> None:
        """Raise `Problem` 422 `webhook-url-not-allowed` naming why `url` may not receive webhooks."""

        def refuse(why: str) -> Problem:
            return Problem(422, "webhook-url-not-allowed", "Webhook URL not allowed 回调地址不允许",
                           f"{url} cannot receive webhooks: {why}", url=url)

        try:
            parts = urlsplit(url)
            hostname, port = parts.hostname, parts.port
        except ValueError as exc:
            raise refuse(f"it is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not hostname:
            raise refuse("it must be an absolute http(s) URL")
        if parts.username or parts.password:
            raise refuse("credentials in the URL are not accepted; the signature authenticates the sender")
        host = hostname.lower()
        if self.allowed_hosts and not self._host_listed(host):
            raise refuse(f"host {host} is not in WEBHOOK_ALLOWED_HOSTS")
        try:
            port = port or (443 if parts.scheme == "https" else 80)
            addresses = {ipaddress.ip_address(info[4][0].split("%")[0])
                         for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
        except (OSError, ValueError) as exc:
            raise refuse(f"host {host} does not resolve ({exc})") from None
        internal = [a for a in addresses if not a.is_global]
        for address in internal:
            if not any(address in network for network in self.allowed_networks):
                raise refuse(f"{host} resolves to the internal address {address}, not in WEBHOOK_ALLOWED_NETWORKS")
        if parts.scheme == "http" and len(internal) != len(addresses):
            raise refuse("plain http is accepted only to an address in WEBHOOK_ALLOWED_NETWORKS; use https")


# --- signing ---------------------------------------------------------------------


def new_secret() -> str:
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secret: str, event_id: str, body: str, at: dt.datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers: the signature covers `id.timestamp.body`."""
    at = at or utcnow()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
        "content-type": "application/json",
    }


# --- fan-out: a delivery row per subscription, in the outbox row's transaction ------


def install_fanout(outbox_model: type[OutboxMixin], models: WebhookModels) -> None:
    """Insert the deliveries of each new outbox row in the same flush (once per model class)."""
    if getattr(outbox_model, "_webhook_fanout_installed", False):
        return
    subscription, delivery = models.subscription, models.delivery

    def fan_out(_mapper, connection, row) -> None:
        subscribers = connection.execute(select(subscription.id, subscription.event_types)).all()
        targets = [sub_id for sub_id, types in subscribers if row.topic in (types or ())]
        if not targets:
            return
        now = utcnow()
        connection.execute(delivery.__table__.insert(), [
            {"subscription_id": sub_id, "event_id": row.event_id, "event_type": row.topic, "body": row.body,
             "status": PENDING, "attempts": 0, "created_at": now, "window_started_at": now, "next_attempt_at": now}
            for sub_id in targets
        ])
        session = object_session(row)
        if session is not None:
            session.info[_PENDING_FLAG] = True

    event.listen(outbox_model, "after_insert", fan_out)
    outbox_model._webhook_fanout_installed = True


# --- the dispatcher ----------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    max_interval_seconds: float = 7200.0
    window_seconds: float = 86400.0
    timeout_seconds: float = 10.0

    def next_attempt(self, attempts: int, window_started_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
        """When to try again after `attempts` failures, or None: the window is over, give up."""
        deadline = window_started_at + dt.timedelta(seconds=self.window_seconds)
        if now >= deadline:
            return None
        delay = min(self.base_seconds * 2 ** (attempts - 1), self.max_interval_seconds)
        return min(now + dt.timedelta(seconds=delay), deadline)  # the last try falls on the deadline


class WebhookDispatcher(BackgroundLoop):
    """Sends a service's due webhook deliveries, oldest due first."""

    thread_suffix = "webhooks"

    def __init__(self, db: Database, models: WebhookModels, *, name: str, policy: RetryPolicy, urls: UrlPolicy,
                 batch_size: int = 50, poll_interval: float = 1.0) -> None:
        super().__init__(name)
        self.db = db
        self.models = models
        self.policy = policy
        self.urls = urls
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._client = httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False)
        self.delivered_total = 0
        self.failed_attempts_total = 0
        event.listen(db.sessionmaker, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_PENDING_FLAG, False):
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _due(self, now: dt.datetime) -> list[int]:
        d, s = self.models.delivery, self.models.subscription
        with self.db.read_sessionmaker() as session:  # on SQLite: no write lock for a look
            return list(session.scalars(
                select(d.id).join(s, s.id == d.subscription_id)
                .where(d.status == PENDING, d.next_attempt_at <= now, s.status == ACTIVE,
                       or_(d.locked_until.is_(None), d.locked_until < now))
                .order_by(d.next_attempt_at, d.id).limit(self.batch_size)))

    def _claim(self, delivery_id: int, now: dt.datetime) -> tuple | None:
        """Lease one delivery (compare-and-set, so one replica sends it); its subscription's URL and secret."""
        d, s = self.models.delivery, self.models.subscription
        lease = now + dt.timedelta(seconds=self.policy.timeout_seconds + 30)
        with self.db.session() as session:
            claimed = session.execute(
                update(d).where(d.id == delivery_id, d.status == PENDING,
                                or_(d.locked_until.is_(None), d.locked_until < now))
                .values(locked_until=lease)).rowcount
            if not claimed:
                return None
            return session.execute(
                select(d.event_id, d.body, d.attempts, d.window_started_at, d.subscription_id, s.url, s.secret)
                .join(s, s.id == d.subscription_id).where(d.id == delivery_id)).one()

    def _send(self, url: str, secret: str, event_id: str, body: str) -> tuple[int | None, str | None]:
        """(response code, error) of one attempt; error None means delivered."""
        try:
            self.urls.check(url)  # again at send time: the name may resolve elsewhere now
        except Problem as refused:
            return None, refused.detail
        try:
            response = self._client.post(url, content=body.encode(), headers=signed_headers(secret, event_id, body))
        except httpx.HTTPError as exc:
            return None, f"{exc.__class__.__name__}: {exc}"[:2000]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    def attempt(self, delivery_id: int) -> bool:
        """Try one delivery now if it is still due and unclaimed; True if it was attempted."""
        now = utcnow()
        claimed = self._claim(delivery_id, now)
        if claimed is None:
            return False
        event_id, body, attempts, window_started_at, subscription_id, url, secret = claimed
        code, error = self._send(url, secret, event_id, body)
        self._record(delivery_id, subscription_id, event_id, attempts + 1, window_started_at, code, error)
        return True

    def _record(self, delivery_id: int, subscription_id: str, event_id: str, attempts: int,
                window_started_at: dt.datetime, code: int | None, error: str | None) -> None:
        d, s = self.models.delivery, self.models.subscription
        now = utcnow()
        outcome: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now, "last_response_code": code,
                                   "last_error": error, "locked_until": None}
        with self.db.session() as session:
            if error is None:
                session.execute(update(d).where(d.id == delivery_id).values(
                    **outcome, status=DELIVERED, delivered_at=now, next_attempt_at=None))
                session.execute(update(s).where(s.id == subscription_id).values(last_success_at=now, consecutive_failures=0))
                self.delivered_total += 1
                log.info("webhook_delivered", subscription_id=subscription_id, event_id=event_id, attempts=attempts, status=code)
                return
            self.failed_attempts_total += 1
            retry_at = self.policy.next_attempt(attempts, window_started_at, now)
            session.execute(update(d).where(d.id == delivery_id).values(
                **outcome, status=PENDING if retry_at else FAILED, next_attempt_at=retry_at))
            session.execute(update(s).where(s.id == subscription_id).values(
                last_failure_at=now, consecutive_failures=s.consecutive_failures + 1))
            log.warning("webhook_attempt_failed", subscription_id=subscription_id, event_id=event_id,
                        attempts=attempts, status=code, error=error, retry_at=retry_at.isoformat() if retry_at else None)
            if retry_at is None:
                hours = self.policy.window_seconds / 3600
                reason = (f"event {event_id} could not be delivered in {attempts} attempts over {hours:g} h "
                          f"(last: {error}); fix the receiver, then resume")
                session.execute(update(s).where(s.id == subscription_id, s.status == ACTIVE).values(
                    status=DISABLED, disabled_reason=reason[:2000], updated_at=now))
                log.error("webhook_subscription_disabled", subscription_id=subscription_id, reason=reason)

    def run_once(self) -> int:
        """Attempt every due delivery once; returns how many were attempted."""
        return sum(self.attempt(delivery_id) for delivery_id in self._due(utcnow()))

    def _until_next_due(self) -> float:
        """Seconds until the next retry falls due, at most `poll_interval` (which
        also covers deliveries another replica claimed and never finished)."""
        d, s = self.models.delivery, self.models.subscription
        with self.db.read_sessionmaker() as session:
            due = session.scalar(select(func.min(d.next_attempt_at)).join(s, s.id == d.subscription_id)
                                 .where(d.status == PENDING, s.status == ACTIVE,
                                        or_(d.locked_until.is_(None), d.locked_until < utcnow())))
        if due is None:
            return self.poll_interval
        if due.tzinfo is None:  # SQLite returns the aggregate as naive text
            due = dt.datetime.fromisoformat(str(due)).replace(tzinfo=dt.UTC)
        return min(self.poll_interval, max(0.05, (due - utcnow()).total_seconds()))

    def _loop(self) -> None:
        log.info("webhook_dispatcher_started", service=self.name)
        while not self._stop.is_set():
            try:
                attempted = self.run_once()
            except Exception as exc:  # the database may be down: try again next poll
                log.warning("webhook_pass_failed", service=self.name, error=repr(exc))
                attempted = 0
            if attempted >= self.batch_size:
                continue
            try:
                wait = self._until_next_due()
            except Exception:  # the database may be down
                wait = min(self.poll_interval, 1.0)
            self._wake.wait(wait)
            self._wake.clear()
        log.info("webhook_dispatcher_stopped", service=self.name)

    def _interrupt(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self.stop()
        event.remove(self.db.sessionmaker, "after_commit", self._after_commit)
        self._client.close()
