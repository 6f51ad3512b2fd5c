from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "deals"
EVENT_SOURCE = "/prm/deals"


class Settings(ServiceSettings):
    """Read from ``PRM_DEALS_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_DEALS_", extra="ignore")
