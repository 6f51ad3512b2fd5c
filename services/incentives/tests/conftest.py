import uuid
from pathlib import Path

import pytest

from prm_contracts import PartnerCreatedV1, PartnerSnapshot, PartnerStatusChangedV1
from prm_events.envelope import new_event
from prm_incentives.config import SCHEMA, Settings
from prm_incentives.directory.handlers import HANDLERS
from prm_incentives.main import create_app
from prm_platform.db import make_engine, make_sessionmaker
from prm_platform.security import Principal, PrincipalKind
from prm_stack.testing import (
    migrate,
    partner_headers,
    rolled_back_client,
    rolled_back_sessions,
    vendor_headers,
)

SERVICE_DIR = Path(__file__).resolve().parents[1]
VENDOR_SCOPES = ("incentives:read", "incentives:write", "ledger:read", "ledger:write")
PARTNER_SCOPES = ("incentives:read", "incentives:write")


@pytest.fixture(scope="session")
def app(prm_infra):
    migrate(SERVICE_DIR, prm_infra)
    return create_app(Settings())


@pytest.fixture(scope="session")
async def engine(prm_infra, app):
    engine = make_engine(prm_infra.database_url, SCHEMA, pool_size=20)
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(app, engine):
    async with rolled_back_client(app, engine) as client:
        yield client


@pytest.fixture
async def sessions(engine):
    """Sessions whose commits are savepoints of one transaction, rolled back after the test."""
    async with rolled_back_sessions(engine) as (_, sessionmaker):
        yield sessionmaker


@pytest.fixture(scope="session")
def committing(engine):
    """Sessions of their own connections that really commit: for concurrency and for the
    property tests, which need separate transactions. Their data stays (unique names)."""
    return make_sessionmaker(engine)


@pytest.fixture
def vendor(prm_infra):
    return vendor_headers(prm_infra.internal_secret, VENDOR_SCOPES)


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id, scopes=PARTNER_SCOPES):
        return partner_headers(prm_infra.internal_secret, partner_id, scopes)
    return headers


VENDOR = Principal(subject="key-vendor", kind=PrincipalKind.vendor,
                   scopes=frozenset(VENDOR_SCOPES))


def partner_principal(partner_id: uuid.UUID) -> Principal:
    return Principal(subject=f"key-{partner_id}", kind=PrincipalKind.partner,
                     partner_id=partner_id, scopes=frozenset(PARTNER_SCOPES))


async def project_partner(session, partner_id: uuid.UUID, status: str = "active",
                          name: str = "Acme Cloud GmbH") -> None:
    """Puts a partner into the directory the way the worker does: through its events."""
    snapshot = PartnerSnapshot(id=partner_id, name=name, type="msp",
                               country="DE", status="onboarding", version=1)
    events = [new_event(PartnerCreatedV1(partner=snapshot), source="/prm/partners",
                        subject=str(partner_id), partner_id=partner_id)]
    if status != "onboarding":
        changed = snapshot.model_copy(update={"status": status, "version": 2})
        events.append(new_event(PartnerStatusChangedV1(partner=changed,
                                                       previous_status="onboarding"),
                                source="/prm/partners", subject=str(partner_id),
                                partner_id=partner_id))
    for event in events:
        await HANDLERS[event.type](session, event)


@pytest.fixture
def list_partner(app):
    async def project(status: str = "active", name: str = "Acme Cloud GmbH") -> uuid.UUID:
        partner_id = uuid.uuid4()
        async with app.state.sessionmaker() as session:
            await project_partner(session, partner_id, status, name)
            await session.commit()
        return partner_id
    return project


def unique(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
