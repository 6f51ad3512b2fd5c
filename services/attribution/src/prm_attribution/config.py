from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "attribution"
EVENT_SOURCE = "/prm/attribution"


class Settings(ServiceSettings):
    """Read from ``PRM_ATTRIBUTION_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_ATTRIBUTION_", extra="ignore")

    # The programme's currency: KPIs are converted into it with the FX rates kept here
    # (``PRM_ATTRIBUTION_BASE_CURRENCY``).
    base_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
