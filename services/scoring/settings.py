from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.ops.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    database_url: str = "sqlite:///var/scoring.db"
    # The default satisfaction rule until year plans carry their own.
    satisfaction_denominator: Literal["all_members", "present", "valid_votes"] = "all_members"
    satisfaction_grades: Literal[2, 3] = Field(3)
    # A 12345 export is spooled to disk as it arrives; past this it is refused (413) unread.
    hotline_import_max_bytes: int = Field(200 * 1024 * 1024, ge=1024, description="the largest work-order import body")
