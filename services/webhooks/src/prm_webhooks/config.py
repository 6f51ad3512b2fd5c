from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "webhooks"
EVENT_SOURCE = "/prm/webhooks"

# Standard Webhooks' recommended schedule after the first, immediate attempt.
RETRY_SCHEDULE_SECONDS = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


class Settings(ServiceSettings):
    """Read from ``PRM_WEBHOOKS_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_WEBHOOKS_", extra="ignore")

    # Development only: accept http:// targets. Never in production: the payloads are
    # signed, not encrypted.
    allow_http: bool = False
    # Tests only: accept loopback targets (127.0.0.0/8, ::1). Private, link-local, metadata and
    # the other internal ranges stay refused whatever this says.
    allow_loopback: bool = False
    # Delays before the 2nd, 3rd, ... attempt; after the last one the delivery has failed.
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(RETRY_SCHEDULE_SECONDS), min_length=1, max_length=20)
    # Each delay is spread by up to this fraction either way, so that the retries of one
    # outage do not all arrive together.
    retry_jitter: float = Field(default=0.1, ge=0, le=0.5)
    # A whole attempt (connect, send, read the capped answer) is abandoned after this long.
    timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    # How much of a receiver's answer is kept in the attempts log.
    response_body_bytes: int = Field(default=4096, ge=0, le=65536)
    # A claimed delivery belongs to its worker this long; a worker that died (SIGKILL) loses
    # it then, and another sends it again with the same webhook-id. Above the timeout.
    lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Concurrent attempts per worker process, and per endpoint across all workers (so that a
    # receiver that never answers occupies only its own share). Four per endpoint held one
    # busy endpoint to about 100 deliveries a second on a loaded worker: each slot waits for
    # its claim and for its outcome to be recorded, not only for the receiver.
    concurrency: int = Field(default=256, ge=1, le=1000)
    per_endpoint_concurrency: int = Field(default=16, ge=1, le=100)
    # How soon the dispatcher looks again for due deliveries when it found none, doubling up
    # to ``idle_poll_seconds`` while it finds none (deliveries this process's consumer adds
    # wake it at once).
    poll_seconds: float = Field(default=0.1, gt=0, le=10)
    idle_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # An endpoint whose every delivery failed for this long is disabled.
    disable_after_failing_days: float = Field(default=5.0, gt=0)
    # A 429's Retry-After is honoured up to this long.
    max_retry_after_seconds: float = Field(default=86400.0, gt=0)
    # Settled messages (with their deliveries and attempts) are kept this long.
    message_retention_days: int = Field(default=30, ge=1)
