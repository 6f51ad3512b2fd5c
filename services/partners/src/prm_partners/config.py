from pydantic import Field, SecretStr
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
