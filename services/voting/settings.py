import os

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

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

    # Public vote rate limits (moving window; per process, or shared through RATE_LIMIT_STORAGE_URI=redis://…).
    rate_limit_public_vote_identity: str = Field("10/minute", description="vote requests per verified identity")
    rate_limit_public_vote_ip: str = Field("600/minute", description="vote requests per client address")

    # Public votes are written in batches by one writer thread per process (group commit).
    public_vote_batch_max: int = Field(500, ge=1, le=10_000, description="most votes written in one transaction")
    public_vote_queue_max: int = Field(20_000, ge=1, le=1_000_000,
                                       description="votes waiting to be written before new ones are refused (503)")
    public_vote_wait_seconds: float = Field(30, gt=0, le=600,
                                            description="how long a vote request waits for its batch to commit")

    @field_validator("rate_limit_public_vote_identity", "rate_limit_public_vote_ip")
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
        return self

    def rate_limits(self) -> dict[str, str]:
        return {
            **super().rate_limits(),
            "public_vote_identity": self.rate_limit_public_vote_identity,
            "public_vote_ip": self.rate_limit_public_vote_ip,
        }
