from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "portal"
EVENT_SOURCE = "/prm/portal"


class Settings(ServiceSettings):
    """Read from ``PRM_PORTAL_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_PORTAL_", extra="ignore")

    # The partner home lists the registrations whose protection ends within this many days,
    # and the certifications that expire within ``certification_notice_days``.
    protection_notice_days: int = Field(default=14, ge=1, le=365)
    certification_notice_days: int = Field(default=60, ge=1, le=730)
    # A notification stream sends a comment this often when it has nothing to say, so that
    # proxies keep it open and a client notices a dead connection.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # How often a stream looks for new notifications even without being woken (a missed wake
    # costs at most this long).
    stream_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    # A stream is closed after this long (the client resumes with Last-Event-ID), so that no
    # connection outlives a credential that was revoked meanwhile.
    stream_max_seconds: float = Field(default=900.0, gt=0, le=86400)
    # Notifications are kept this long, then forgotten.
    notification_retention_days: int = Field(default=180, ge=1)
    # Partners whose facts changed are scored again this often (every partner daily anyway).
    health_scoring_seconds: float = Field(default=60.0, ge=0.5, le=3600)
