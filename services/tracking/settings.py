from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class TrackingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKING_", extra="ignore")

    database_url: str = "sqlite:///var/tracking.db"
    # Days after the unsatisfied vote by which the research group reports its
    # findings; committee meetings come about every two months.
    investigation_days: int = Field(45, ge=1, le=365)
    research_group: str = "专项调研组"
