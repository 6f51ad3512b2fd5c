import datetime as dt
import uuid
from pathlib import Path

import pytest

from prm_attribution.campaigns.handlers import HANDLERS as CAMPAIGN_HANDLERS
from prm_attribution.config import SCHEMA, Settings
from prm_attribution.costs.handlers import HANDLERS as COST_HANDLERS
from prm_attribution.deals.handlers import HANDLERS as DEAL_HANDLERS
from prm_attribution.directory.handlers import HANDLERS as DIRECTORY_HANDLERS
from prm_attribution.kpis.handlers import HANDLERS as FX_HANDLERS
from prm_attribution.main import create_app
from prm_contracts import (
    Amount,
    CertificationEarnedV1,
    Customer,
    DealApprovedV1,
    DealLostV1,
    DealRegisteredV1,
    DealWonV1,
    FxRateSetV1,
    MdfClaimApprovedV1,
    MdfRequestApprovedV1,
    MdfRequestSubmittedV1,
    OnboardingCompletedV1,
    PartnerCreatedV1,
    PartnerSnapshot,
    PartnerStatusChangedV1,
    PayoutPaidV1,
    RebateAccruedV1,
    RebateReversedV1,
    SpiffAccruedV1,
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
                 domain: str | None = None, deal_type: str = "new") -> None:
        self.deal_id = uuid.uuid4()
        self.deal_type = deal_type
        self.partner_id = partner_id
        self.amount = Amount(amount=amount, currency=currency)
        self.customer = Customer(name="Globex", domain=domain or f"{self.deal_id.hex}.example",
                                 country="FR")

    def registered(self, at=T0) -> CloudEvent:
        return envelope(DealRegisteredV1(
            deal_id=self.deal_id, partner_id=self.partner_id, customer=self.customer,
            amount=self.amount, expected_close_date=dt.date(2027, 1, 1), status="submitted",
            deal_type=self.deal_type), at)

    def approved(self, at=T0 + dt.timedelta(days=1)) -> CloudEvent:
        return envelope(DealApprovedV1(deal_id=self.deal_id, partner_id=self.partner_id,
                                       status="approved", version=2,
                                       protected_until=dt.date(2027, 1, 1)), at)

    def won(self, closed_on=dt.date(2026, 10, 15), at=T0 + dt.timedelta(days=45),
            version=3) -> CloudEvent:
        return envelope(DealWonV1(deal_id=self.deal_id, partner_id=self.partner_id,
                                  status="won", version=version, customer=self.customer,
                                  amount=self.amount, closed_on=closed_on,
                                  deal_type=self.deal_type, products=[]), at)

    def lost(self, at=T0 + dt.timedelta(days=30), version=3) -> CloudEvent:
        return envelope(DealLostV1(deal_id=self.deal_id, partner_id=self.partner_id,
                                   status="lost", version=version), at)


@pytest.fixture
def apply(app):
    """Applies events the way the worker does (one handler per event, in its transaction)."""
    async def run(*events: CloudEvent) -> None:
        async with app.state.sessionmaker() as session:
            for event in events:
                handlers = {**DEAL_HANDLERS, **DIRECTORY_HANDLERS, **COST_HANDLERS,
                            **FX_HANDLERS, **CAMPAIGN_HANDLERS}
                await handlers[event.type](session, event)
            await session.commit()
    return run


def partner_created(partner_id: uuid.UUID, *, type_="si", tier="Gold", at=T0,
                    status="active") -> CloudEvent:
    return envelope(PartnerCreatedV1(partner=PartnerSnapshot(
        id=partner_id, name=f"Partner {partner_id.hex[:6]}", type=type_, country="DE",
        status=status, version=1, tier=tier)), at, source="/prm/partners")


def partner_activated(partner_id: uuid.UUID, *, type_="si", tier="Gold", at=T0,
                      version=2) -> CloudEvent:
    return envelope(PartnerStatusChangedV1(partner=PartnerSnapshot(
        id=partner_id, name=f"Partner {partner_id.hex[:6]}", type=type_, country="DE",
        status="active", version=version, tier=tier), previous_status="onboarding"), at,
        source="/prm/partners")


def certified(partner_id: uuid.UUID, earned_on: dt.date, at=T0) -> CloudEvent:
    return envelope(CertificationEarnedV1(partner_id=partner_id, certification_id=uuid.uuid4(),
                                          code="SEC-101", earned_on=earned_on), at,
                    source="/prm/partners")


def onboarded(partner_id: uuid.UUID, at: dt.datetime) -> CloudEvent:
    return envelope(OnboardingCompletedV1(partner_id=partner_id, plan_id=uuid.uuid4(),
                                          completed_at=at), at, source="/prm/partners")


INCENTIVES = "/prm/incentives"


class MdfStory:
    """Builds the incentives' events of one MDF activity: requested, approved, claimed."""

    def __init__(self, partner_id: uuid.UUID, planned: str = "1000.00", currency="EUR",
                 activity_type="event", start=dt.date(2026, 9, 5)) -> None:
        self.request_id, self.partner_id = uuid.uuid4(), partner_id
        self.planned = Amount(amount=planned, currency=currency)
        self.activity_type, self.start = activity_type, start
        self.common = {"request_id": self.request_id, "partner_id": partner_id,
                       "allocation_id": uuid.uuid4(), "budget_id": uuid.uuid4(),
                       "planned_cost": self.planned}

    def submitted(self, at=T0) -> CloudEvent:
        return envelope(MdfRequestSubmittedV1(
            **self.common, status="submitted", version=1, activity_type=self.activity_type,
            start_date=self.start, end_date=self.start + dt.timedelta(days=1)), at, INCENTIVES)

    def approved(self, at=T0) -> CloudEvent:
        return envelope(MdfRequestApprovedV1(
            **self.common, status="approved", version=2, approved_by="vendor",
            claim_due_on=dt.date(2026, 12, 31)), at, INCENTIVES)

    def claim_approved(self, approved: str, at=T0 + dt.timedelta(days=20)) -> CloudEvent:
        self.claim_id = uuid.uuid4()
        paid = Amount(amount=approved, currency=self.planned.currency)
        return envelope(MdfClaimApprovedV1(
            claim_id=self.claim_id, request_id=self.request_id, partner_id=self.partner_id,
            status="approved", claimed=paid, version=2, approved=paid,
            released=Amount(amount="0.00", currency=self.planned.currency)), at, INCENTIVES)


def rebate(partner_id: uuid.UUID, deal_id: uuid.UUID | None, amount: str, currency="EUR",
           at=T0 + dt.timedelta(days=45)) -> CloudEvent:
    return envelope(RebateAccruedV1(
        accrual_id=uuid.uuid4(), programme_id=uuid.uuid4(), partner_id=partner_id,
        deal_id=deal_id, kind="deal", amount=Amount(amount=amount, currency=currency),
        rate="2", version=1), at, INCENTIVES)


def rebate_reversed(accrued: CloudEvent, at: dt.datetime) -> CloudEvent:
    """The reversal of a rebate accrual (its deal undone), taking back its whole amount."""
    original = RebateAccruedV1.model_validate(accrued.data)
    return envelope(RebateReversedV1(
        accrual_id=original.accrual_id, programme_id=original.programme_id,
        partner_id=original.partner_id, deal_id=original.deal_id, kind=original.kind,
        amount=original.amount, reason="deal undone", version=original.version + 1), at,
        INCENTIVES)


def spiff(partner_id: uuid.UUID, deal_id: uuid.UUID, amount: str, currency="EUR",
          at=T0 + dt.timedelta(days=45)) -> CloudEvent:
    return envelope(SpiffAccruedV1(
        accrual_id=uuid.uuid4(), spiff_id=uuid.uuid4(), partner_id=partner_id,
        deal_id=deal_id, amount=Amount(amount=amount, currency=currency), capped=False,
        version=1), at, INCENTIVES)


def payout_paid(partner_id: uuid.UUID, total: str, paid_on: dt.date, currency="EUR",
                at=T0 + dt.timedelta(days=60)) -> CloudEvent:
    return envelope(PayoutPaidV1(
        batch_id=uuid.uuid4(), partner_id=partner_id, period_from=dt.date(2026, 9, 1),
        period_to=dt.date(2026, 10, 1), total=Amount(amount=total, currency=currency),
        lines=1, status="paid", version=3, payment_reference="PAY-1", paid_on=paid_on),
        at, INCENTIVES)


def rate_set(base: str, quote: str, rate: str, effective_on: dt.date,
             rate_id: uuid.UUID | None = None) -> CloudEvent:
    """A rate the incentives ledger recorded (it owns the FX rates)."""
    return envelope(FxRateSetV1(rate_id=rate_id or uuid.uuid4(), base=base, quote=quote,
                                rate=rate, effective_on=effective_on, recorded_at=T0),
                    T0, INCENTIVES)


@pytest.fixture
def kit():
    """The event builders (test modules cannot import conftest under importlib mode)."""
    from types import SimpleNamespace
    return SimpleNamespace(T0=T0, DealStory=DealStory, partner_created=partner_created,
                           partner_activated=partner_activated, certified=certified,
                           onboarded=onboarded,
                           MdfStory=MdfStory, rebate=rebate, spiff=spiff,
                           rebate_reversed=rebate_reversed,
                           payout_paid=payout_paid, rate_set=rate_set)
