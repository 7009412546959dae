"""Settings common to every service, read from the environment only.

Each service subclasses `ServiceSettings` with its own prefix (VOTING_,
SCORING_, TRACKING_), so one environment can configure all three.
"""

from __future__ import annotations

from pydantic import Field, PrivateAttr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.web.forwarded import Network, parse_trusted_proxies
from shared.messaging.kafka import KafkaSettings


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    database_url: str = Field(description="SQLAlchemy URL: sqlite:///var/<service>.db or postgresql://…")
    db_pool_size: int = Field(5, ge=1, le=200, description="per process; up to 3x this under load")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_session_timeout_ms: int = Field(6000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(1000, ge=100)
    kafka_max_poll_interval_ms: int = Field(10000, ge=1000)
    kafka_request_timeout_ms: int = Field(15000, ge=1000)
    kafka_max_block_ms: int = Field(5000, ge=100)
    kafka_bootstrap_timeout_ms: int = Field(5000, ge=100)
    kafka_delivery_timeout_ms: int = Field(30000, ge=1000)
    kafka_fetch_max_wait_ms: int = Field(25, ge=1, description="a consumer's fetch wait while events flow (bounds each hop on Tansu)")
    kafka_fetch_max_wait_idle_ms: int = Field(1000, ge=1, le=10000,
                                              description="its fetch wait once idle for CONSUMER_IDLE_AFTER seconds")
    kafka_topic_partitions: int = Field(3, ge=1)
    kafka_topic_replication: int = Field(1, ge=1, description="3 on a Kafka cluster")
    kafka_reconnect_backoff_ms: int = Field(50, ge=1, description="first wait before reconnecting to a broker")
    kafka_reconnect_backoff_max_ms: int = Field(1000, ge=1, description="the longest wait between reconnects")

    run_relay: bool = Field(True, description="publish the outbox from this process")
    run_consumer: bool = Field(True, description="consume events in this process")
    relay_poll_interval: float = Field(5.0, gt=0, le=60,
                                       description="fallback look at the outbox; a commit with an event wakes the relay at once "
                                                   "(on Postgres a commit on any replica)")
    relay_retry_interval: float = Field(0.1, gt=0, le=60, description="first pause after a failed publish pass, doubling")
    relay_backoff_max: float = Field(5.0, gt=0, le=300, description="longest pause between failed publish passes")
    relay_rebuild_after: int = Field(3, ge=1, description="failed passes in a row before the producer is rebuilt")
    relay_stuck_after: float = Field(30.0, gt=0, description="readiness fails when a row waits longer (seconds)")
    relay_failing_after: int = Field(3, ge=1, description="readiness fails after this many failed passes in a row")
    relay_loss_check_interval: float = Field(10.0, gt=0, le=3600,
                                             description="seconds between checks that the broker still holds what it acknowledged")
    relay_resend_horizon_hours: float = Field(168, gt=0, description="how far back the broker-loss check looks")
    lease_retry_interval: float = Field(1.0, gt=0, le=60,
                                        description="how often a standby replica tries to take over the relay and audit linker")
    run_audit_linker: bool = Field(True, description="link new audit entries into the chain from this process")
    audit_link_interval: float = Field(0.25, gt=0, le=60, description="shortest spacing between sealing passes")
    audit_link_idle_interval: float = Field(60.0, gt=0, le=3600,
                                            description="fallback sealing pass; a commit that wrote audit entries wakes the linker")
    consumer_idle_after: float = Field(10.0, gt=0, le=3600,
                                       description="seconds without an event before a consumer's fetch wait grows to the idle one")
    consumer_max_attempts: int = Field(5, ge=1, le=1000, description="tries before an event is parked in the inbox")

    body_limit_bytes: int = Field(1024 * 1024, ge=1024, description="the largest request body a route takes unless it has its own cap (413 over it)")

    # Behind the one-origin proxy (deploy/proxy): the prefix it serves this service under, e.g. /voting.
    root_path: str = Field("", pattern=r"^(/[A-Za-z0-9._-]+)*$", description="path prefix behind a reverse proxy")

    # Webhooks (shared/messaging/webhooks.py): where they may point, and how long a failing delivery is retried.
    run_webhooks: bool = Field(True, description="send this service's webhook deliveries from this process")
    webhook_allowed_hosts: str = Field("", description="comma-separated hosts (or *.domain) webhooks may point at; empty: any public host")
    webhook_allowed_networks: str = Field("", description="comma-separated CIDRs of internal addresses webhooks may point at")
    webhook_retry_base_seconds: float = Field(5, gt=0, le=3600, description="first retry after this; doubles each time")
    webhook_retry_max_interval_seconds: float = Field(7200, gt=0, le=86400, description="longest wait between two tries")
    webhook_retry_window_seconds: float = Field(86400, gt=0, le=7 * 86400,
                                                description="a delivery failing this long is given up and its subscription disabled")
    webhook_timeout_seconds: float = Field(10, gt=0, le=120, description="per delivery attempt")
    webhook_poll_interval: float = Field(10.0, gt=0, le=60,
                                         description="longest sleep between looks for due retries (it wakes when the next falls due)")

    log_level: str = "INFO"
    log_json: bool = True

    # Signs member tokens (JWT, HS256); a long random value in production.
    auth_token_secret: str = Field("dev-only-member-token-secret-change-me", min_length=32)
    member_token_ttl_hours: float = Field(12, gt=0, le=24 * 31)

    rate_limit_storage_uri: str = Field("memory://", description="memory:// per process, or redis://host:6379 shared")
    rate_limit_public_read: str = Field("600/minute", description="public reads per client address")
    rate_limit_credential: str = Field("6000/minute", description="requests per API key or member token")
    # X-Forwarded-For / Forwarded are believed only from these peers (IPs or CIDR ranges, comma-separated).
    trusted_proxies: str = Field("", description="reverse proxies whose forwarding headers name the client; default none")
    _trusted_networks: tuple[Network, ...] = PrivateAttr(())

    def model_post_init(self, context) -> None:
        self._trusted_networks = parse_trusted_proxies(self.trusted_proxies)

    @property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return self._trusted_networks

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_trusted_proxies(value)
        return value

    @field_validator("rate_limit_public_read", "rate_limit_credential")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError("must read like '600/minute' or '10/second'") from None
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _webhook_networks(cls, value: str) -> str:
        import ipaddress

        for network in filter(None, (n.strip() for n in value.split(","))):
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a CIDR network such as 10.20.0.0/16") from None
        return value

    def rate_limits(self) -> dict[str, str]:
        """Named limits for `shared.web.ratelimit.RateLimiter`; services add their own."""
        return {"public_read": self.rate_limit_public_read, "credential": self.rate_limit_credential}

    def shared_rate_limits(self) -> frozenset[str]:
        """Limits that must hold across replicas and workers (the database counts them without Redis)."""
        return frozenset()

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.kafka_bootstrap_servers,
            session_timeout_ms=self.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=self.kafka_max_poll_interval_ms,
            request_timeout_ms=self.kafka_request_timeout_ms,
            max_block_ms=self.kafka_max_block_ms,
            bootstrap_timeout_ms=self.kafka_bootstrap_timeout_ms,
            delivery_timeout_ms=self.kafka_delivery_timeout_ms,
            fetch_max_wait_ms=self.kafka_fetch_max_wait_ms,
            fetch_max_wait_idle_ms=self.kafka_fetch_max_wait_idle_ms,
            topic_partitions=self.kafka_topic_partitions,
            topic_replication=self.kafka_topic_replication,
            reconnect_backoff_ms=self.kafka_reconnect_backoff_ms,
            reconnect_backoff_max_ms=self.kafka_reconnect_backoff_max_ms,
        )
