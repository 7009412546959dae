from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class VotingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VOTING_", extra="ignore")

    database_url: str = "sqlite:///var/voting.db"
