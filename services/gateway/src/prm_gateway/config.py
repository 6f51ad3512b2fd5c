import os
from typing import Annotated, Self

import httpx
from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import SettingsConfigDict

from prm_platform.declaration import ServiceDeclaration, services
from prm_platform.settings import ServiceSettings

SCHEMA = "gateway"
EVENT_SOURCE = "/prm/gateway"

def _base_url(value: str) -> str:
    url = httpx.URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{value!r} is not an http(s) base URL")
    return value.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(_base_url)]


class Settings(ServiceSettings):
    """Read from ``PRM_GATEWAY_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_GATEWAY_", extra="ignore")

    # Where each declared API service answers. Filled from ``PRM_GATEWAY_<SERVICE>_URL`` (e.g.
    # ``PRM_GATEWAY_DEALS_URL``), else 127.0.0.1:8001, :8002, ... in declaration order.
    upstream_urls: dict[str, BaseUrl] = Field(default_factory=dict)
    # Seconds to wait for an upstream to connect, to take the request and to answer (each).
    upstream_timeout: float = Field(default=10.0, gt=0, le=300)
    upstream_max_connections: int = Field(default=200, ge=1, le=10_000)
    readiness_timeout: float = Field(default=2.0, gt=0, le=30)
    contract_cache_seconds: float = Field(default=60.0, ge=0)
    # How long creating a partner key waits for a partner this gateway does not know yet (its
    # creation event on its way from the partners service) before refusing it.
    key_partner_wait_seconds: float = Field(default=5.0, ge=0, le=30)

    @model_validator(mode="after")
    def _every_upstream(self) -> Self:
        apis = upstream_services()
        if unknown := set(self.upstream_urls) - {d.name for d in apis}:
            raise ValueError(f"upstream_urls names undeclared services {sorted(unknown)}")
        for index, declaration in enumerate(apis):
            if declaration.name not in self.upstream_urls:
                url = os.environ.get(f"PRM_GATEWAY_{declaration.name.upper()}_URL")
                self.upstream_urls[declaration.name] = _base_url(
                    url or f"http://127.0.0.1:{8001 + index}")
        return self

    @property
    def upstreams(self) -> dict[str, str]:
        """Service name -> base URL, for every declared API service behind the gateway."""
        return self.upstream_urls


def upstream_services() -> list[ServiceDeclaration]:
    """The declared services with an API behind the gateway."""
    return [d for d in services() if d.app and not d.edge]
