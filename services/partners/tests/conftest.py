from pathlib import Path

import pytest

from prm_partners.config import Settings
from prm_partners.main import create_app
from prm_platform.db import make_engine
from prm_platform.security import Principal, PrincipalKind
from prm_stack.testing import migrate, principal_headers, rolled_back_client

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
    principal = Principal(subject="key-vendor", kind=PrincipalKind.vendor,
                          scopes=frozenset({"partners:read", "partners:write"}))
    return principal_headers(principal, prm_infra.internal_secret)


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id, scopes=("partners:read", "partners:write")):
        principal = Principal(subject=f"key-{partner_id}", kind=PrincipalKind.partner,
                              partner_id=partner_id, scopes=frozenset(scopes))
        return principal_headers(principal, prm_infra.internal_secret)
    return headers
