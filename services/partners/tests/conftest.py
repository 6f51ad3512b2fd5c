from pathlib import Path

import pytest

from prm_partners.config import Settings
from prm_partners.declaration import SERVICE
from prm_partners.main import create_app
from prm_platform.db import make_engine
from prm_stack.testing import (
    migrate,
    partner_headers,
    rolled_back_client,
    rolled_back_sessions,
    vendor_headers,
)

SERVICE_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def app(prm_infra):
    migrate(SERVICE_DIR, prm_infra)
    return create_app(Settings())


@pytest.fixture(scope="session")
async def engine(prm_infra, app):
    engine = make_engine(prm_infra.database_url, "partners")
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(app, engine):
    async with rolled_back_client(app, engine) as client:
        yield client


# Every scope of the service, and those a partner key may hold.
ALL_SCOPES = tuple(scope.name for scope in SERVICE.scopes)
PARTNER_SCOPES = tuple(scope.name for scope in SERVICE.scopes if scope.partner)


@pytest.fixture
async def sessions(engine):
    """Sessions whose commits are savepoints of one transaction, rolled back after the test
    (for event handlers and jobs, which take a session)."""
    async with rolled_back_sessions(engine) as (_, sessionmaker):
        yield sessionmaker


@pytest.fixture
def vendor(prm_infra):
    return vendor_headers(prm_infra.internal_secret, ALL_SCOPES)


@pytest.fixture
def as_vendor(prm_infra):
    """Headers of a vendor key with only ``scopes`` (a key of its own if ``subject`` is given:
    per-key budgets such as rate limits are not shared with other tests)."""
    def headers(scopes, subject="key-vendor"):
        return vendor_headers(prm_infra.internal_secret, tuple(scopes), subject)
    return headers


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id, scopes=PARTNER_SCOPES):
        return partner_headers(prm_infra.internal_secret, partner_id, scopes)
    return headers
