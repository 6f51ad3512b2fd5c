import uuid
from pathlib import Path

import pytest

from prm_contracts import (
    PartnerCreatedV1,
    PartnerSnapshot,
    PartnerStatusChangedV1,
    PartnerUpdatedV1,
)
from prm_deals.config import SCHEMA, Settings
from prm_deals.directory.handlers import HANDLERS
from prm_deals.main import create_app
from prm_events.envelope import CloudEvent, new_event
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
    engine = make_engine(prm_infra.database_url, SCHEMA)
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


@pytest.fixture
def partner_event():
    """Builds the event the partners service emits for a partner at ``version``: created at
    version 1, a status change when ``previous_status`` is given, an update otherwise."""
    def build(partner_id: uuid.UUID, *, version: int = 1, status: str = "onboarding",
              name: str = "Acme Cloud GmbH", previous_status: str | None = None) -> CloudEvent:
        partner = PartnerSnapshot(id=partner_id, name=name, type="msp", country="DE",
                                  status=status, version=version)
        if version == 1:
            payload = PartnerCreatedV1(partner=partner)
        elif previous_status is not None:
            payload = PartnerStatusChangedV1(partner=partner, previous_status=previous_status)
        else:
            payload = PartnerUpdatedV1(partner=partner, changed=["name"])
        return new_event(payload, source="/prm/partners", subject=str(partner_id),
                         partner_id=partner_id)
    return build


@pytest.fixture
def list_partner(app, client, partner_event):
    """Puts a partner into the directory the way the worker does: through its events."""
    async def project(status: str = "active") -> uuid.UUID:
        partner_id = uuid.uuid4()
        events = [partner_event(partner_id)]
        if status != "onboarding":
            events.append(partner_event(partner_id, version=2, status=status,
                                        previous_status="onboarding"))
        async with app.state.sessionmaker() as session:
            for event in events:
                await HANDLERS[event.type](session, event)
            await session.commit()
        return partner_id
    return project


@pytest.fixture
def vendor(prm_infra):
    return vendor_headers(prm_infra.internal_secret, ("deals:read", "deals:write"))


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id, scopes=("deals:read", "deals:write")):
        return partner_headers(prm_infra.internal_secret, partner_id, scopes)
    return headers
