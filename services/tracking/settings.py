from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.tracking.domain.escalation import EscalationMeasure
from shared.ops.settings import ServiceSettings


class TrackingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKING_", extra="ignore")

    database_url: str = "sqlite:///var/tracking.db"
    # Days after the unsatisfied vote by which the research group reports its
    # findings; committee meetings come about every two months.
    investigation_days: int = Field(45, ge=1, le=365)
    research_group: str = "专项调研组"
    # Where progress attachments are kept; files are named by their SHA-256.
    attachments_dir: Path = Path("var/tracking-attachments")
    attachment_max_bytes: int = Field(10 * 1024 * 1024, ge=1, description="one attachment, decoded (422 over it)")
    # A progress report's body carries its attachments in base64 (4/3 of their size).
    progress_body_max_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="a progress report's body (413 over it)")
    # What a second 不满意 leads to until year plans carry it.
    escalation_policy: EscalationMeasure = "written_self_examination"
