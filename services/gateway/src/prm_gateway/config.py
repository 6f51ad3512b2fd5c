import os
from typing import Annotated, Self

import httpx
from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import SettingsConfigDict

from prm_platform.declaration import ServiceDeclaration, services
from prm_platform.oidc import OidcSettings
from prm_platform.settings import ServiceSettings

SCHEMA = "gateway"
EVENT_SOURCE = "/prm/gateway"

# Vendor staff roles of the identity provider and what they may do (overridable).
ROLE_SCOPES = {
    "admin": ["admin"],
    "channel_manager": ["partners:read", "partners:write", "deals:read", "deals:write"],
    "finance": ["partners:read", "deals:read"],
}


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
    # OIDC for portal users; off unless an issuer is set (PRM_GATEWAY_OIDC_ISSUER, ...).
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_audience: str | None = None
    oidc_roles_claim: str = "roles"
    oidc_partner_claim: str = "prm_partner_id"
    # Role -> scopes of vendor staff, e.g. {"channel_manager": ["partners:read", ...]}.
    oidc_role_scopes: dict[str, list[str]] = Field(default_factory=lambda: dict(ROLE_SCOPES))
    contract_cache_seconds: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _oidc_complete(self) -> Self:
        configured = [self.oidc_issuer, self.oidc_jwks_url, self.oidc_audience]
        if any(configured) and not all(configured):
            raise ValueError("OIDC needs oidc_issuer, oidc_jwks_url and oidc_audience together")
        return self

    def oidc(self) -> OidcSettings | None:
        if not self.oidc_issuer or not self.oidc_jwks_url or not self.oidc_audience:
            return None
        from prm_gateway.api_keys.schemas import DEFAULT_PARTNER_SCOPES

        return OidcSettings(issuer=self.oidc_issuer, jwks_url=self.oidc_jwks_url,
                            audience=self.oidc_audience, roles_claim=self.oidc_roles_claim,
                            role_scopes=self.oidc_role_scopes,
                            partner_claim=self.oidc_partner_claim,
                            partner_scopes=DEFAULT_PARTNER_SCOPES)

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
