"""Gateway: ``uvicorn --factory prm_gateway.main:create_app``."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from prm_events.kafka import connection_options
from prm_gateway import contract, health, proxy
from prm_gateway.api_keys.endpoints import router as api_keys_router
from prm_gateway.api_keys.lookup import router as key_lookup_router
from prm_gateway.auth import UNKNOWN_KEY_SECONDS, GatewayAuthentication, GatewayKeys
from prm_gateway.config import SCHEMA, Settings, upstream_services
from prm_gateway.standing.models import PartnerStanding
from prm_platform import metrics, telemetry
from prm_platform.app import operation_id
from prm_platform.conditional import ConditionalGet
from prm_platform.credentials import KeyCache, Standings
from prm_platform.db import make_engine, make_read_sessionmaker, make_sessionmaker
from prm_platform.edge import install_edge
from prm_platform.http import BodySizeLimit, autocommit_connection
from prm_platform.oidc import OidcVerifier
from prm_platform.problems import install_outermost, install_problem_handlers

log = logging.getLogger("prm.gateway")

def create_app(settings: Settings | None = None,
               transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> FastAPI:
    """Build the gateway. ``transports`` replaces the network for the named upstream services
    (e.g. ``{"partners": httpx.ASGITransport(app=partners_app)}``), for in-process tests."""
    settings = settings or Settings()
    connection_options(settings)  # refuse to start with broker settings it cannot use (/readyz)
    mounts = proxy.upstream_mounts(settings.upstreams, transports or {})
    telemetry.setup(SCHEMA, settings)  # before the engine, whose statements it traces
    engine = make_engine(settings.database_url, SCHEMA, pool_size=settings.db_pool_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=settings.upstream_max_connections,
                              max_keepalive_connections=settings.upstream_max_connections)
        async with httpx.AsyncClient(limits=limits, timeout=settings.upstream_timeout,
                                     mounts=mounts, follow_redirects=False) as client:
            # A span per call to a service, whose traceparent (the gateway's, replacing the
            # client's) continues the trace there.
            telemetry.trace_client(client)
            app.state.http = client
            # Purges run in the gateway's worker (prm_gateway.worker), like every service's.
            oidc = settings.oidc()
            app.state.oidc = OidcVerifier(oidc, client) if oidc else None
            try:
                yield
            finally:
                await engine.dispose()

    app = FastAPI(
        title=contract.TITLE,
        description=contract.DESCRIPTION,
        version="1.0.0",
        servers=[{"url": "/", "description": "The gateway that serves this document"}],
        openapi_tags=[{"name": "api-keys", "description": "API keys for machine clients: "
                       "vendor integrations (scoped) and partners' systems (bound to their "
                       "partner org)."}],
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        redirect_slashes=False,  # never a redirect that could name an upstream's address
        openapi_url=None,  # /openapi.json serves the merged contract instead
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.read_sessionmaker = make_read_sessionmaker(engine)  # every GET reads only
    # Rate-limit leases (prm_platform.ratelimits); tests swap in connections that roll back.
    app.state.autocommit = functools.partial(autocommit_connection, engine)
    app.state.internal_secret = settings.internal_secret.get_secret_value()
    app.state.keys = KeyCache(GatewayKeys(lambda: app.state.sessionmaker),
                              ttl=settings.key_cache_seconds,
                              negative_ttl=UNKNOWN_KEY_SECONDS)
    app.state.standings = Standings(settings.standing_cache_seconds, PartnerStanding.status,
                                    PartnerStanding.partner_id)
    app.state.oidc = None
    app.state.contract = contract.ContractSource(settings.contract_cache_seconds)
    install_problem_handlers(app)
    # Added last = runs first: CORS, then authentication and rate limits refuse a /v1 request
    # before its body is read, then the body size limit.
    app.add_middleware(ConditionalGet)  # ETags and 304s for its own reads and those it forwards
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, larger={
        prefix: limit for declaration in upstream_services()
        for prefix, limit in declaration.body_limits().items()})

    async def authenticate(credential: str):
        return await GatewayAuthentication(app, app.state.keys, app.state.standings,
                                           app.state.oidc)(credential)

    install_edge(app, authenticate=authenticate, connect=lambda: app.state.autocommit(),
                 rate_limit_per_minute=settings.rate_limit_per_minute,
                 failed_auth_per_minute=settings.failed_auth_per_minute,
                 failed_auth_per_minute_total=settings.failed_auth_per_minute_total,
                 trusted_proxies=settings.trusted_proxies,
                 cors_origins=settings.cors_origins)
    install_outermost(app)  # request ids, and a problem for whatever escapes every layer
    if settings.telemetry:
        metrics.install(app, pool=SCHEMA, engine=engine)
        telemetry.trace_app(app)
    app.include_router(health.router)
    app.include_router(contract.router)
    contract.mount_docs_assets(app)
    app.include_router(api_keys_router)
    app.include_router(key_lookup_router)
    proxy.install_routes(app)
    return app
