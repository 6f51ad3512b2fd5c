from typing import Annotated

import httpx
from pydantic import AfterValidator, Field
from pydantic_settings import SettingsConfigDict

from prm_platform.settings import ServiceSettings

SCHEMA = "gateway"


def _base_url(value: str) -> str:
    url = httpx.URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{value!r} is not an http(s) base URL")
    return value.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(_base_url)]


class Settings(ServiceSettings):
    """Read from ``PRM_GATEWAY_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_GATEWAY_", extra="ignore")

    partners_url: BaseUrl = "http://127.0.0.1:8001"
    deals_url: BaseUrl = "http://127.0.0.1:8002"
    # Seconds to wait for an upstream to connect, to take the request and to answer (each).
    upstream_timeout: float = Field(default=10.0, gt=0, le=300)
    upstream_max_connections: int = Field(default=200, ge=1, le=10_000)
    readiness_timeout: float = Field(default=2.0, gt=0, le=30)
    # Requests per API key per minute, which is also the burst a key may send at once.
    rate_limit_per_minute: int = Field(default=6000, ge=1)
    # How stale a cached key lookup may be: a key revoked elsewhere stops working within this.
    key_cache_seconds: float = Field(default=5.0, ge=0, le=30)
    contract_cache_seconds: float = Field(default=60.0, ge=0)

    @property
    def upstreams(self) -> dict[str, str]:
        return {"partners": self.partners_url, "deals": self.deals_url}
