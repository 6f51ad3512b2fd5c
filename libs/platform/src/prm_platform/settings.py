"""Service settings.

Every service reads its own prefix first (``PRM_PARTNERS_DATABASE_URL``) and falls back to the
shared one (``PRM_DATABASE_URL``), so one variable configures the embedded stack while any single
service can still be pointed at its own database or broker.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from prm_platform.oidc import OidcSettings

MIN_SECRET_LENGTH = 32
PLACEHOLDERS = ("change-me", "changeme", "replace-me", "your-secret")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRM_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/prm"
    # Connections kept open per process (and as many again in bursts): at least the number of
    # requests one process serves at once, or every burst opens and closes connections.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Real Kafka supports idempotent producers; the embedded broker does not (off by default).
    kafka_idempotence: bool = False
    kafka_partitions: int = Field(default=3, ge=1, le=256)
    # Replication of topics the workers create; use 3 on a real cluster (the embedded broker has 1).
    kafka_replication_factor: int = Field(default=1, ge=1, le=10)
    # Authentication to the broker. The embedded broker is PLAINTEXT on loopback; a shared
    # cluster is SASL_SSL with one SCRAM user per service, which its ACLs name (deploy/README.md).
    # Checked where a Kafka client is made (prm_events.kafka), so that processes which never
    # reach the broker (migrations, most APIs) need no broker password.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    # CA bundle that signed the brokers' certificates (SSL, SASL_SSL); the system's by default.
    kafka_ssl_cafile: str | None = None
    # Shared secret that signs the principal header the gateway forwards. No default on purpose,
    # at least MIN_SECRET_LENGTH characters, and never a placeholder left from an example file.
    internal_secret: SecretStr
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # The edge of every service (prm_platform.edge) and of the gateway, each limit shared by
    # the service's replicas (prm_platform.ratelimits: N replicas allow what one does):
    # requests per API key per minute, which is also the burst a key may send at once;
    rate_limit_per_minute: int = Field(default=6000, ge=1)
    # failed authentications per client address per minute, after which that address's
    # unknown credentials get 429 (a valid one is never refused: it is checked first);
    failed_auth_per_minute: int = Field(default=30, ge=1)
    # and of every address together: forged or rotated addresses cannot escape it;
    failed_auth_per_minute_total: int = Field(default=600, ge=1)
    # proxies whose X-Forwarded-For names the client (CIDRs: the edge's addresses). The
    # client address is the last hop not in this list; from any other peer the header is
    # ignored. Empty: the peer is the client. Run uvicorn with --no-proxy-headers.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    # browser origins allowed to call the API (CORS), e.g. ["https://portal.example.com"];
    cors_origins: list[str] = Field(default_factory=list)
    # how stale a cached key lookup may be (a key revoked elsewhere stops working within the
    # event delay plus this): a lookup is one indexed read, so a short trust costs little
    key_cache_seconds: float = Field(default=0.5, ge=0, le=30)
    # and a partner org's standing (a suspension takes effect within the event delay plus this).
    standing_cache_seconds: float = Field(default=2.0, ge=0, le=30)
    # The key owner (the gateway), asked once about a key not yet in the service's directory.
    key_owner_url: str | None = None
    # OIDC for portal users, checked by every service's edge; off unless an issuer is set
    # (PRM_OIDC_ISSUER, PRM_OIDC_JWKS_URL, PRM_OIDC_AUDIENCE together).
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_audience: str | None = None
    oidc_roles_claim: str = "roles"
    oidc_partner_claim: str = "prm_partner_id"
    # Roles -> scopes are declared by the services (``ServiceDeclaration.roles``, docs/roles.md).
    # This overrides them per role, e.g. {"finance": ["partners:read", "incentives:read"]}: a
    # role named here gets exactly these scopes, a new name is a new role (a partner role if it
    # starts with ``partner_``); roles not named keep their declared scopes.
    oidc_role_scopes: dict[str, list[str]] = Field(default_factory=dict)
    # The role of a partner user whose token names no partner role. None (the default): such a
    # user holds no scope at all. E.g. "partner_sales" for an identity provider that sends no
    # roles to partner users yet.
    oidc_partner_default_role: str | None = None
    # How long published outbox rows and applied inbox rows are kept (purged by the worker's
    # scheduler). The inbox must outlive the broker's retention: it is what makes a redelivery
    # a no-op.
    outbox_retention_days: int = Field(default=7, ge=1)
    # How soon an outbox relay claims again after a round that published some (events flow:
    # each round carries what came meanwhile, the longest an event waits for the relay then).
    # After a round that found none it looks again, at first after ``outbox_poll_seconds``,
    # doubling up to ``outbox_max_poll_seconds``. After a few seconds of nothing it sleeps until
    # a writer's NOTIFY wakes it, and looks anyway every ``outbox_idle_poll_seconds``
    # (prm_events.outbox).
    outbox_gather_seconds: float = Field(default=0.1, gt=0, le=5)
    outbox_poll_seconds: float = Field(default=0.025, gt=0, le=5)
    outbox_max_poll_seconds: float = Field(default=0.1, gt=0, le=30)
    outbox_idle_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    # A worker's liveness file (prm_events.heartbeat), touched while every loop makes progress.
    worker_heartbeat_file: str | None = None
    worker_stale_seconds: float = Field(default=60.0, gt=0)
    inbox_retention_days: int = Field(default=30, ge=1)
    # Observability: turns on metrics (Prometheus, /metrics of every API and worker; see
    # docs/operations.md) and traces (OpenTelemetry). Off, nothing is measured or served.
    telemetry: bool = False
    # Where a worker serves /metrics when telemetry is on (an API serves it on its own port).
    metrics_port: int = Field(default=9100, ge=1, le=65535)
    metrics_address: str = "0.0.0.0"  # noqa: S104 - scraped from the cluster network
    # Log lines as JSON objects with trace, span and request ids (prm_platform.telemetry):
    # "auto" when telemetry is on, else uvicorn's and the worker's plain text.
    log_format: Literal["auto", "text", "json"] = "auto"

    def json_logs(self) -> bool:
        return self.log_format == "json" or (self.log_format == "auto" and self.telemetry)

    @field_validator("internal_secret")
    @classmethod
    def _strong_secret(cls, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value()
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"PRM_INTERNAL_SECRET must be at least {MIN_SECRET_LENGTH} "
                             "characters (e.g. `openssl rand -hex 32`)")
        if any(marker in value.lower().replace("_", "-") for marker in PLACEHOLDERS):
            raise ValueError("PRM_INTERNAL_SECRET is still the placeholder of an example file; "
                             "set a random value (e.g. `openssl rand -hex 32`)")
        return secret

    @model_validator(mode="after")
    def _oidc_complete(self) -> Self:
        configured = [self.oidc_issuer, self.oidc_jwks_url, self.oidc_audience]
        if any(configured) and not all(configured):
            raise ValueError("OIDC needs oidc_issuer, oidc_jwks_url and oidc_audience together")
        if self.oidc_role_scopes or self.oidc_partner_default_role:
            self.role_scopes()  # a typo in the roles refuses to start, not to authorise
        return self

    def role_scopes(self) -> dict[str, frozenset[str]]:
        """Every role's scopes: the services' declarations, with ``oidc_role_scopes`` applied."""
        from prm_platform.declaration import is_partner_role, resolve_roles

        roles = resolve_roles(self.oidc_role_scopes)
        default = self.oidc_partner_default_role
        if default is not None and not (is_partner_role(default) and default in roles):
            raise ValueError(f"oidc_partner_default_role {default!r} is not a partner role")
        return roles

    def oidc(self) -> OidcSettings | None:
        if not self.oidc_issuer or not self.oidc_jwks_url or not self.oidc_audience:
            return None
        from prm_platform.declaration import is_partner_role, partner_grantable

        roles = self.role_scopes()
        return OidcSettings(issuer=self.oidc_issuer, jwks_url=self.oidc_jwks_url,
                            audience=self.oidc_audience, roles_claim=self.oidc_roles_claim,
                            role_scopes={role: scopes for role, scopes in roles.items()
                                         if not is_partner_role(role)},
                            partner_claim=self.oidc_partner_claim,
                            partner_role_scopes={role: scopes for role, scopes in roles.items()
                                                 if is_partner_role(role)},
                            partner_grantable=partner_grantable(),
                            partner_default_role=self.oidc_partner_default_role)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(settings_cls, env_prefix="PRM_")
        return (init_settings, env_settings, shared, file_secret_settings)
