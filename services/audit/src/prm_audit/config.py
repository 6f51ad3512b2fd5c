from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "audit"
EVENT_SOURCE = "/prm/audit"


class Settings(ServiceSettings):
    """Read from ``PRM_AUDIT_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_AUDIT_", extra="ignore")

    # Entries are kept this long (by the time of their event), then deleted oldest first; the
    # last one deleted becomes its chain's anchor. Ten years by default.
    retention_days: int = Field(default=3653, ge=1)
    # One verification checks at most this many entries (it says where to go on from), reading
    # them ``verify_chunk`` at a time.
    verify_max_rows: int = Field(default=100_000, ge=1, le=10_000_000)
    verify_chunk: int = Field(default=2000, ge=1, le=50_000)
