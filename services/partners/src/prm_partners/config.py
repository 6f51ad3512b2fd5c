from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "partners"
EVENT_SOURCE = "/prm/partners"


class Settings(ServiceSettings):
    """Read from ``PRM_PARTNERS_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_PARTNERS_", extra="ignore")
