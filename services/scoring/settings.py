from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    database_url: str = "sqlite:///var/scoring.db"
    # The default satisfaction rule until year plans carry their own.
    satisfaction_denominator: Literal["all_members", "present", "valid_votes"] = "all_members"
    satisfaction_grades: Literal[2, 3] = Field(3)
