"""Gateway tests run every declared service in-process behind the gateway, all on the
session's real PostgreSQL, each test rolled back."""

import contextlib
import importlib

import httpx
import pytest

from prm_gateway.config import Settings
from prm_gateway.main import create_app
from prm_platform.db import make_engine
from prm_platform.declaration import ServiceDeclaration, services
from prm_stack.testing import migrate, rolled_back_client

from .helpers import MAX_BODY, issue_key


def upstream_services() -> list[ServiceDeclaration]:
    return [d for d in services() if d.app and not d.edge]


@pytest.fixture(scope="session")
def migrated(prm_infra):
    migrate([d.migrations.parent for d in sorted(services(), key=lambda d: d.migration_order)
             if d.migrations is not None], prm_infra)


@pytest.fixture(scope="session")
def upstream_apps(migrated):
    """Each service's app, built by its declared factory (settings from the environment)."""
    apps = {}
    for declaration in upstream_services():
        module, _, factory = (declaration.app or "").partition(":")
        apps[declaration.name] = getattr(importlib.import_module(module), factory)()
    return apps


@pytest.fixture(scope="session")
async def engines(prm_infra, migrated):
    engines = {d.schema: make_engine(prm_infra.database_url, d.schema) for d in services()}
    yield engines
    for engine in engines.values():
        await engine.dispose()


@pytest.fixture
async def transports(upstream_apps, engines):
    """In-process upstreams whose database changes are rolled back after the test."""
    schemas = {d.name: d.schema for d in upstream_services()}
    async with contextlib.AsyncExitStack() as stack:
        for name, app in upstream_apps.items():
            await stack.enter_async_context(rolled_back_client(app, engines[schemas[name]]))
        yield {name: httpx.ASGITransport(app=app) for name, app in upstream_apps.items()}


@pytest.fixture
async def start_gateway(transports, engines):
    """Start a gateway (settings overridable) with a rolled-back database; returns its client,
    whose ``app`` attribute is the gateway app."""
    async with contextlib.AsyncExitStack() as stack:
        async def start(upstreams: dict | None = None, **settings) -> httpx.AsyncClient:
            app = create_app(Settings(**{"max_body_bytes": MAX_BODY, **settings}),
                             transports=transports if upstreams is None else upstreams)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                rolled_back_client(app, engines["gateway"]))
            client.app = app
            return client
        yield start


@pytest.fixture
async def gateway(start_gateway):
    return await start_gateway()


@pytest.fixture
async def admin(gateway):
    return await issue_key(gateway)
