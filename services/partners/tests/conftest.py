from pathlib import Path

import pytest

from prm_partners.config import Settings
from prm_partners.main import create_app
from prm_platform.db import make_engine
from prm_stack.testing import migrate, partner_headers, rolled_back_client, vendor_headers

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


@pytest.fixture
def vendor(prm_infra):
    return vendor_headers(prm_infra.internal_secret, ("partners:read", "partners:write"))


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id, scopes=("partners:read", "partners:write")):
        return partner_headers(prm_infra.internal_secret, partner_id, scopes)
    return headers
