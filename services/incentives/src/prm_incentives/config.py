from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "incentives"
EVENT_SOURCE = "/prm/incentives"


class Settings(ServiceSettings):
    """Read from ``PRM_INCENTIVES_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_INCENTIVES_", extra="ignore")

    # A fund request not decided within this many days of its submission expires, and its
    # reservation goes back to the allocation (``PRM_INCENTIVES_REQUEST_DECISION_DAYS``).
    request_decision_days: int = Field(default=30, ge=1, le=365)
    # An approved request must be claimed within this many days after its activity ended.
    claim_window_days: int = Field(default=60, ge=1, le=730)
    # A volume programme's partners are trued up this many days after its period ended, so
    # that wins recorded late are in (``PRM_INCENTIVES_TRUE_UP_DELAY_DAYS``).
    true_up_delay_days: int = Field(default=7, ge=0, le=90)
