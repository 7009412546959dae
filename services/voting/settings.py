import os

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.ops.settings import ServiceSettings

# Settings renamed with issue 6; a deployment still setting them is told the new name instead of being ignored.
RENAMED = {
    "VOTING_PUBLIC_VOTE_IDENTITY_LIMIT": "VOTING_RATE_LIMIT_PUBLIC_VOTE_IDENTITY (e.g. '10/minute')",
    "VOTING_PUBLIC_VOTE_IP_LIMIT": "VOTING_RATE_LIMIT_PUBLIC_VOTE_IP (e.g. '600/minute')",
}


class VotingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VOTING_", extra="ignore", validate_default=True)

    database_url: str = "sqlite:///var/voting.db"
    # Wraps each ballot's sealing key; set a long random value in production.
    ballot_seal_secret: str = Field("dev-only-ballot-seal-secret", min_length=16)
    # Keys the hash of a public voter's verified identity (VOTING_IDENTITY_HASH_KEY).
    identity_hash_key: str = Field("dev-only-identity-hash-key", min_length=16)

    # Public vote and verification rate limits: shared by every replica and worker (Redis when
    # RATE_LIMIT_STORAGE_URI=redis://…, else this service's database).
    rate_limit_public_vote_identity: str = Field("10/minute", description="vote requests per verified identity")
    rate_limit_public_vote_ip: str = Field("600/minute", description="vote requests per client address")
    rate_limit_verification_code_ip: str = Field("100/hour", description="SMS code requests per client address")
    rate_limit_verification_ip: str = Field("300/hour", description="verification attempts per client address")

    # Verified identity for the public vote (issue 12).
    public_vote_pass_ttl_seconds: int = Field(600, ge=10, le=24 * 3600, description="how long a voting pass is valid")
    sms_gateway: str = Field("none", description="file:PATH, http(s)://… (an SMS platform) or none (SMS off)")
    sms_gateway_secret: str = Field("", description="HMAC-SHA256 key signing requests to an HTTP SMS platform")
    sms_gateway_timeout_seconds: float = Field(5, gt=0, le=60)
    sms_gateway_retries: int = Field(2, ge=0, le=5, description="retries after a failed send (timeouts, 5xx)")
    verification_code_ttl_seconds: int = Field(300, ge=30, le=3600, description="how long an SMS code is valid")
    verification_code_resend_seconds: int = Field(60, ge=0, le=3600, description="wait before a new code for one phone")
    verification_codes_per_phone_per_day: int = Field(10, ge=1, le=1000, description="SMS codes per phone per poll per day (Beijing time)")
    verification_max_wrong_codes: int = Field(5, ge=1, le=100, description="wrong codes before the phone is locked for the poll")
    verification_lock_seconds: int = Field(900, ge=1, le=7 * 24 * 3600, description="how long a phone stays locked")
    oidc_issuer: str | None = Field(None, description="the government identity platform's issuer; OIDC is off when unset")
    oidc_audience: str | None = Field(None, description="our client id at the identity platform (the ID token's aud)")
    oidc_jwks_url: str | None = Field(None, description="where the platform publishes its signing keys (JWKS)")
    oidc_leeway_seconds: float = Field(30, ge=0, le=300, description="clock skew allowed on exp, nbf, iat")
    oidc_jwks_timeout_seconds: float = Field(5, gt=0, le=60)
    oidc_jwks_cache_seconds: float = Field(300, ge=0, le=24 * 3600, description="how long fetched keys are kept")
    oidc_jwks_refetch_cooldown_seconds: float = Field(10, ge=0, le=3600,
                                                      description="least time between fetches caused by an unknown kid")

    # Public votes are written in batches by one writer thread per process (group commit).
    public_vote_batch_max: int = Field(500, ge=1, le=10_000, description="most votes written in one transaction")
    public_vote_queue_max: int = Field(20_000, ge=1, le=1_000_000,
                                       description="votes waiting to be written before new ones are refused (503)")
    public_vote_wait_seconds: float = Field(30, gt=0, le=600,
                                            description="how long a vote request waits for its batch to commit")

    @field_validator("sms_gateway")
    @classmethod
    def _sms_gateway(cls, value: str) -> str:
        if value != "none" and not value.startswith(("file:", "http://", "https://")) or value == "file:":
            raise ValueError("must be file:PATH, http(s)://… or none")
        return value

    @field_validator("rate_limit_public_vote_identity", "rate_limit_public_vote_ip", "rate_limit_verification_code_ip",
                     "rate_limit_verification_ip")
    @classmethod
    def _vote_rate_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError("must read like '10/minute' or '600/minute'") from None
        return value

    @model_validator(mode="after")
    def _no_renamed_settings(self) -> "VotingSettings":
        stale = [f"{old} is now {new}" for old, new in RENAMED.items() if old in os.environ]
        if stale:
            raise ValueError("; ".join(stale))
        if self.sms_gateway.startswith(("http://", "https://")) and len(self.sms_gateway_secret) < 16:
            raise ValueError("VOTING_SMS_GATEWAY_SECRET (at least 16 characters) signs requests to an HTTP SMS gateway")
        if self.oidc_issuer and not (self.oidc_audience and self.oidc_jwks_url):
            raise ValueError("VOTING_OIDC_ISSUER needs VOTING_OIDC_AUDIENCE and VOTING_OIDC_JWKS_URL")
        return self

    def rate_limits(self) -> dict[str, str]:
        return {
            **super().rate_limits(),
            "public_vote_identity": self.rate_limit_public_vote_identity,
            "public_vote_ip": self.rate_limit_public_vote_ip,
            "verification_code_ip": self.rate_limit_verification_code_ip,
            "verification_ip": self.rate_limit_verification_ip,
        }

    def shared_rate_limits(self) -> frozenset[str]:
        return frozenset({"public_vote_identity", "public_vote_ip", "verification_code_ip", "verification_ip"})
