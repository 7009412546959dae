"""The portal's settings (PORTAL_*): where the three services answer, and how
long a public answer is reused before it is revalidated."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore", validate_default=True)

    voting_url: str = Field("http://127.0.0.1:8001", description="the voting service, as the portal reaches it")
    scoring_url: str = "http://127.0.0.1:8002"
    tracking_url: str = "http://127.0.0.1:8003"
    upstream_timeout: float = Field(5.0, gt=0, le=60)
    # Public pages: a published answer is reused this long, then revalidated by ETag.
    page_cache_seconds: float = Field(2.0, ge=0, le=300)
    # The board and turnout: short, so a vote shows within a second.
    live_cache_seconds: float = Field(0.1, ge=0, le=5)
    # Secure cookies (member sign-in, a voter's pass) behind HTTPS.
    secure_cookies: bool = False
    # Behind the one-origin proxy the portal is served at /, so no prefix by default.
    root_path: str = Field("", pattern=r"^(/[A-Za-z0-9._-]+)*$", description="path prefix behind a reverse proxy")
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("voting_url", "scoring_url", "tracking_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
