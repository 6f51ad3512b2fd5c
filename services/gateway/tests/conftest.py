"""Gateway tests run the real partners and deals services in-process behind
the gateway, all on the session's real PostgreSQL, each test rolled back."""

import contextlib

import httpx
import pytest

from prm_deals.config import Settings as DealsSettings
from prm_deals.main import create_app as create_deals_app
from prm_gateway.config import Settings
from prm_gateway.main import create_app
from prm_partners.config import Settings as PartnersSettings
from prm_partners.main import create_app as create_partners_app
from prm_platform.db import make_engine
from prm_stack.testing import migrate, rolled_back_client

from .helpers import MAX_BODY, SERVICES, issue_key


@pytest.fixture(scope="session")
def migrated(prm_infra):
    for service_dir in ("gateway", "partners", "deals"):
        migrate(SERVICES / service_dir, prm_infra)


@pytest.fixture(scope="session")
def partners_app(migrated):
    return create_partners_app(PartnersSettings())


@pytest.fixture(scope="session")
def deals_app(migrated):
    return create_deals_app(DealsSettings())


@pytest.fixture(scope="session")
async def engines(prm_infra, migrated):
    engines = {schema: make_engine(prm_infra.database_url, schema)
               for schema in ("gateway", "partners", "deals")}
    yield engines
    for engine in engines.values():
        await engine.dispose()


@pytest.fixture
async def transports(partners_app, deals_app, engines):
    """In-process upstreams whose database changes are rolled back after the test."""
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(rolled_back_client(partners_app, engines["partners"]))
        await stack.enter_async_context(rolled_back_client(deals_app, engines["deals"]))
        yield {"partners": httpx.ASGITransport(app=partners_app),
               "deals": httpx.ASGITransport(app=deals_app)}


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
