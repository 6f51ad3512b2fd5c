"""The FastAPI application factory every service uses."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import text

from prm_platform import liveness, metrics, telemetry
from prm_platform.conditional import ConditionalGet
from prm_platform.credentials import KeyDirectory
from prm_platform.db import make_engine, make_read_sessionmaker, make_sessionmaker
from prm_platform.edge import install_edge
from prm_platform.http import (
    BodySizeLimit,
    HeadAsGet,
    autocommit_connection,
    transaction_connection,
)
from prm_platform.oidc import OidcVerifier
from prm_platform.problems import install_outermost, install_problem_handlers, problem_response
from prm_platform.security import vouched_principal
from prm_platform.settings import ServiceSettings

log = logging.getLogger("prm.app")



def operation_id(route: APIRoute) -> str:
    """Stable operation ids: ``<tag>-<name>``, e.g. ``partners-create-partner``."""
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag.replace(' ', '-')}-{route.name.replace('_', '-')}"


def create_service_app(
    *,
    title: str,
    description: str,
    schema: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    tags: list[dict[str, Any]],
    background: Sequence[Callable[[FastAPI], Any]] = (),
    has_worker: bool = True,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    telemetry.setup(schema, settings)  # before the engine, whose statements it traces
    engine = make_engine(settings.database_url, schema, pool_size=settings.db_pool_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Purges and other periodic jobs run in the service's worker (prm_events.worker).
        tasks = [asyncio.create_task(start(app)) for start in background]
        oidc = settings.oidc()
        http = httpx.AsyncClient(timeout=5, trust_env=False) if oidc else None
        app.state.oidc = OidcVerifier(oidc, http) if oidc else None
        try:
            yield
        finally:
            if http is not None:
                await http.aclose()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        openapi_tags=tags,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # No 307 to the slash-less path: behind the gateway its Location would name this
        # service's internal address. A trailing slash is simply not a route (404).
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    # GETs (and HEADs, run as GETs) read in READ ONLY transactions: PostgreSQL refuses any
    # write one attempts, so no read can change state, whatever code it reaches.
    app.state.read_sessionmaker = make_read_sessionmaker(engine)
    app.state.autocommit = functools.partial(autocommit_connection, engine)
    app.state.transaction = functools.partial(transaction_connection, engine)
    app.state.internal_secret = settings.internal_secret.get_secret_value()
    app.state.oidc = None  # an OidcVerifier once started, if PRM_OIDC_* is set
    install_problem_handlers(app)
    # Innermost: an ETag on every JSON read, 304 for If-None-Match (after authentication).
    app.add_middleware(ConditionalGet)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, larger=body_limits)
    # Callers reach a service straight (API key checked here, against the service's own key
    # directory) or through the gateway (its signed principal).
    install_edge(app, authenticate=KeyDirectory(lambda: app.state.sessionmaker,
                                                key_ttl=settings.key_cache_seconds,
                                                standing_ttl=settings.standing_cache_seconds,
                                                owner_url=settings.key_owner_url,
                                                internal_secret=app.state.internal_secret,
                                                oidc=lambda: app.state.oidc),
                 connect=lambda: app.state.autocommit(),
                 rate_limit_per_minute=settings.rate_limit_per_minute,
                 failed_auth_per_minute=settings.failed_auth_per_minute,
                 failed_auth_per_minute_total=settings.failed_auth_per_minute_total,
                 trusted_proxies=settings.trusted_proxies,
                 cors_origins=settings.cors_origins,
                 vouched=vouched_principal(app.state.internal_secret))
    app.add_middleware(HeadAsGet)  # the edge and the routes see a GET
    install_outermost(app)  # request ids, and a problem for whatever escapes every layer
    if settings.telemetry:
        metrics.install(app, pool=schema, engine=engine)
        telemetry.trace_app(app)
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        try:
            async with request.app.state.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
            return problem_response(503, "service-unavailable", f"database: {type(exc).__name__}")
        return JSONResponse({"status": "ok", "service": schema})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """The whole service works: its database answers and its worker (outbox relay,
        consumers, scheduled jobs) makes progress. APIs keep serving while a worker is stale
        (writes wait in the outbox), so orchestrators route on /healthz; /readyz is for the
        gateway's /readyz and for monitoring."""
        checks = {"database": "ok"}
        try:
            async with request.app.state.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
                if has_worker:
                    checks["worker"] = await liveness.worker_status(
                        session, settings.worker_stale_seconds)
        except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
            checks["database"] = f"unavailable: {type(exc).__name__}"
        failing = sorted(name for name, result in checks.items() if result != "ok")
        if failing:
            return problem_response(503, "service-unavailable",
                                    f"not ready: {', '.join(failing)}", instance="/readyz",
                                    service=schema, checks=checks)
        return JSONResponse({"status": "ok", "service": schema, "checks": checks})

    return app
