import datetime as dt
import uuid
from pathlib import Path

import pytest

from prm_attribution.config import SCHEMA, Settings
from prm_attribution.deals.handlers import HANDLERS as DEAL_HANDLERS
from prm_attribution.directory.handlers import HANDLERS as DIRECTORY_HANDLERS
from prm_attribution.main import create_app
from prm_contracts import (
    Amount,
    Customer,
    DealApprovedV1,
    DealLostV1,
    DealRegisteredV1,
    DealWonV1,
    PartnerCreatedV1,
    PartnerSnapshot,
)
from prm_events.envelope import CloudEvent
from prm_platform.db import make_engine
from prm_platform.ids import new_id
from prm_stack.testing import (
    migrate,
    partner_headers,
    rolled_back_client,
    rolled_back_sessions,
    vendor_headers,
)

SERVICE_DIR = Path(__file__).resolve().parents[1]
SCOPES = ("attribution:read", "attribution:write")


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
    async with rolled_back_sessions(engine) as (_, sessionmaker):
        yield sessionmaker


@pytest.fixture
def vendor(prm_infra):
    return vendor_headers(prm_infra.internal_secret, SCOPES)


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id, scopes=SCOPES):
        return partner_headers(prm_infra.internal_secret, partner_id, scopes)
    return headers


def envelope(payload, at: dt.datetime, source="/prm/deals") -> CloudEvent:
    """An event as the producer would send it, at a fixed time (replays see the same time)."""
    return CloudEvent(id=new_id(), source=source, type=payload.event_type,
                      subject=str(getattr(payload, "deal_id", "")), time=at,
                      data=payload.model_dump(mode="json"))


T0 = dt.datetime(2026, 9, 1, 10, tzinfo=dt.UTC)


class DealStory:
    """Builds the deals' events of one deal."""

    def __init__(self, partner_id: uuid.UUID, amount: str = "48000.00", currency="EUR",
                 domain: str | None = None) -> None:
        self.deal_id = uuid.uuid4()
        self.partner_id = partner_id
        self.amount = Amount(amount=amount, currency=currency)
        self.customer = Customer(name="Globex", domain=domain or f"{self.deal_id.hex}.example",
                                 country="FR")

    def registered(self, at=T0) -> CloudEvent:
        return envelope(DealRegisteredV1(
            deal_id=self.deal_id, partner_id=self.partner_id, customer=self.customer,
            amount=self.amount, expected_close_date=dt.date(2027, 1, 1), status="submitted"),
            at)

    def approved(self, at=T0 + dt.timedelta(days=1)) -> CloudEvent:
        return envelope(DealApprovedV1(deal_id=self.deal_id, partner_id=self.partner_id,
                                       status="approved", version=2,
                                       protected_until=dt.date(2027, 1, 1)), at)

    def won(self, closed_on=dt.date(2026, 10, 15), at=T0 + dt.timedelta(days=45),
            version=3) -> CloudEvent:
        return envelope(DealWonV1(deal_id=self.deal_id, partner_id=self.partner_id,
                                  status="won", version=version, customer=self.customer,
                                  amount=self.amount, closed_on=closed_on, deal_type="new",
                                  products=[]), at)

    def lost(self, at=T0 + dt.timedelta(days=30), version=3) -> CloudEvent:
        return envelope(DealLostV1(deal_id=self.deal_id, partner_id=self.partner_id,
                                   status="lost", version=version), at)


@pytest.fixture
def apply(app):
    """Applies events the way the worker does (one handler per event, in its transaction)."""
    async def run(*events: CloudEvent) -> None:
        async with app.state.sessionmaker() as session:
            for event in events:
                handlers = {**DEAL_HANDLERS, **DIRECTORY_HANDLERS}
                await handlers[event.type](session, event)
            await session.commit()
    return run


def partner_created(partner_id: uuid.UUID, *, type_="si", tier="Gold", at=T0) -> CloudEvent:
    return envelope(PartnerCreatedV1(partner=PartnerSnapshot(
        id=partner_id, name=f"Partner {partner_id.hex[:6]}", type=type_, country="DE",
        status="active", version=1, tier=tier)), at, source="/prm/partners")


@pytest.fixture
def kit():
    """The event builders (test modules cannot import conftest under importlib mode)."""
    from types import SimpleNamespace
    return SimpleNamespace(T0=T0, DealStory=DealStory, partner_created=partner_created)
