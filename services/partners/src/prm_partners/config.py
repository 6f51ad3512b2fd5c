from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "partners"
EVENT_SOURCE = "/prm/partners"


class Settings(ServiceSettings):
    """Read from ``PRM_PARTNERS_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_PARTNERS_", extra="ignore")

    # Applications per minute from one key that may only submit them (the public intake key
    # behind a website's form): far below the general per-key limit.
    intake_per_minute: int = Field(default=20, ge=1)
    # The secret the survey tool signs its deliveries with (``Survey-Signature``); without it
    # the intake refuses every delivery.
    survey_secret: SecretStr | None = None
    # The secret the LMS signs its deliveries of completions with (``LMS-Signature``); without
    # it the LMS intake refuses every delivery.
    lms_secret: SecretStr | None = None

    # Where the enablement library's files are kept (prm_platform.objects): "postgres" (in the
    # service's schema, the default) or "s3", an S3-compatible store; the names mirror the
    # incentives service's PROOF_* settings. Objects are "<prefix>enablement/<file id>".
    enablement_store: Literal["postgres", "s3"] = "postgres"
    enablement_s3_bucket: str | None = None
    enablement_s3_endpoint_url: str | None = None
    enablement_s3_region: str = "us-east-1"
    enablement_s3_access_key_id: str | None = None
    enablement_s3_secret_access_key: SecretStr | None = None
    enablement_s3_key_prefix: str = Field(default="", max_length=200)
    enablement_s3_addressing_style: Literal["path", "virtual"] | None = None
    enablement_s3_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Signed download links of the resource library: how long one is valid, and the secret
    # their HMAC is made with (every replica must share it; without one, each process makes its
    # own at start-up and its links work on that process alone).
    enablement_link_seconds: int = Field(default=900, ge=10, le=86_400)
    enablement_link_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _enablement_store_complete(self) -> Self:
        if self.enablement_store == "s3" and not self.enablement_s3_bucket:
            raise ValueError("PRM_PARTNERS_ENABLEMENT_STORE=s3 needs "
                             "PRM_PARTNERS_ENABLEMENT_S3_BUCKET")
        if (self.enablement_s3_access_key_id is None) != (
                self.enablement_s3_secret_access_key is None):
            raise ValueError("PRM_PARTNERS_ENABLEMENT_S3_ACCESS_KEY_ID and "
                             "..._SECRET_ACCESS_KEY are given together or not at all")
        return self
