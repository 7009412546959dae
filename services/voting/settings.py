from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class VotingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VOTING_", extra="ignore")

    database_url: str = "sqlite:///var/voting.db"
    # Wraps each ballot's sealing key; set a long random value in production.
    ballot_seal_secret: str = Field("dev-only-ballot-seal-secret", min_length=16)
    # Keys the hash of a public voter's verified identity (VOTING_IDENTITY_HASH_KEY).
    identity_hash_key: str = Field("dev-only-identity-hash-key", min_length=16)
    # Public vote rate limits, per process, per minute.
    public_vote_identity_limit: int = 10
    public_vote_ip_limit: int = 600
