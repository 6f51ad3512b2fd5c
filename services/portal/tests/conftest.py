import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from prm_events.consumer import EventConsumer, Part
from prm_events.envelope import CloudEvent
from prm_platform.db import make_engine, make_sessionmaker
from prm_portal.config import SCHEMA, Settings
from prm_portal.main import create_app
from prm_portal.worker import spec
from prm_stack.testing import committing_client, migrate, partner_headers, vendor_headers

SERVICE_DIR = Path(__file__).resolve().parents[1]
# What a partner's people and the vendor's staff hold: their screens, and the contexts' reads.
READS = ("portal:read", "portal:write", "partners:read", "deals:read", "incentives:read")
PROJECTION_TABLES = ("partner_cards, tier_changes, onboarding, certifications, deals, "
                     "mdf_allocations, mdf_requests, mdf_claims, accruals, payouts, "
                     "notifications, notification_marks, search_entries, tier_progress, "
                     "onboarding_progress, inbox, health_facts, health_due, partner_health, "
                     "health_history, health_estimators")


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
def sessionmaker(engine):
    return make_sessionmaker(engine)


@pytest.fixture
async def fresh(engine):
    """Empty projections before and after the test (for tests whose events commit)."""
    async def truncate() -> None:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {PROJECTION_TABLES}"))
    await truncate()
    yield truncate
    await truncate()


@pytest.fixture
async def client(app, fresh):
    """A client whose requests commit (the events consumed do too): every table of the read
    model is emptied before and after the test."""
    async with committing_client(app) as client:
        yield client


@pytest.fixture
def vendor(prm_infra):
    return vendor_headers(prm_infra.internal_secret, READS)


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id, scopes=READS):
        return partner_headers(prm_infra.internal_secret, partner_id, scopes)
    return headers


@pytest.fixture(scope="session")
def health_history():
    """The generated partner history (health_history.py beside this file; tests are imported
    by path, so it is loaded the same way)."""
    import importlib.util
    import sys
    path = Path(__file__).with_name("health_history.py")
    spec = importlib.util.spec_from_file_location("portal_health_history", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def worker_consumer(sessionmaker) -> EventConsumer:
    """The worker's one consumer: every subscription of its spec, in one transaction."""
    parts = [Part(sub.name, tuple(sub.topics), sub.handlers) for sub in spec().subscriptions]
    return EventConsumer.shared("portal.events", parts, sessionmaker,
                                producer=None)  # type: ignore[arg-type]  # no dead letters


@pytest.fixture
def consume(sessionmaker):
    consumer = worker_consumer(sessionmaker)

    async def apply(*events: CloudEvent, batch: bool = False) -> None:
        if batch:
            await consumer.apply_batch(list(events))
            return
        for event in events:
            await consumer.apply_batch([event])
    return apply


@pytest.fixture
def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@pytest.fixture
def new_uuid():
    return uuid.uuid4


class Story:
    """A partner's programme told as the contexts' events: what the home should then show."""

    def __init__(self, partner_id: uuid.UUID, today: dt.date) -> None:
        from prm_contracts import (
            Amount,
            CertificationEarnedV1,
            CertificationExpiredV1,
            Customer,
            DealApprovedV1,
            DealRegisteredV1,
            DealRejectedV1,
            DealUpdatedV1,
            DealWonV1,
            MdfAllocationCreatedV1,
            MdfClaimApprovedV1,
            MdfClaimSubmittedV1,
            MdfRequestApprovedV1,
            MdfRequestChangesRequestedV1,
            MdfRequestSubmittedV1,
            OnboardingCompletedV1,
            PartnerCreatedV1,
            PartnerSnapshot,
            PartnerStatusChangedV1,
            PartnerTierChangedV1,
            PayoutApprovedV1,
            PayoutPaidV1,
            RebateAccruedV1,
            RebateReversedV1,
            SpiffAccruedV1,
        )
        from prm_events.envelope import new_event

        self.partner_id = p = partner_id
        self.events: list[CloudEvent] = []
        self.ids: dict[str, uuid.UUID] = {}

        def ident(name: str) -> uuid.UUID:
            return self.ids.setdefault(name, uuid.uuid4())

        def add(payload, aggregate: uuid.UUID, source: str) -> None:
            self.events.append(new_event(payload, source=source, subject=str(aggregate),
                                         partner_id=p))

        def eur(value: str) -> Amount:
            return Amount(amount=value, currency="EUR")

        def snapshot(version: int, status: str, tier: str | None = None) -> PartnerSnapshot:
            return PartnerSnapshot(id=p, name=f"Müller Systemhaus {str(p)[:8]}", type="reseller",
                                   country="DE", status=status, version=version, tier=tier)

        partners = "/prm/partners"
        add(PartnerCreatedV1(partner=snapshot(1, "onboarding")), p, partners)
        add(PartnerStatusChangedV1(partner=snapshot(2, "active"), previous_status="onboarding"),
            p, partners)
        add(PartnerTierChangedV1(partner=snapshot(3, "active", "Gold"), previous_tier=None,
                                 tier="Gold", direction="promotion",
                                 criteria={"revenue": "120000.00"}, reason="revenue reached"),
            p, partners)
        add(OnboardingCompletedV1(partner_id=p, plan_id=ident("plan"),
                                  completed_at=dt.datetime(2027, 1, 5, 9, tzinfo=dt.UTC)),
            p, partners)
        for name, days in (("cert-soon", 30), ("cert-later", 200), ("cert-gone", 10)):
            add(CertificationEarnedV1(partner_id=p, certification_id=ident(name),
                                      code=name.upper(), earned_on=today - dt.timedelta(days=300),
                                      expires_on=today + dt.timedelta(days=days)), p, partners)
        add(CertificationExpiredV1(partner_id=p, certification_id=ident("cert-gone"),
                                   code="CERT-GONE", expired_on=today), p, partners)

        deals = "/prm/deals"

        def register(name: str, customer: str, amount: str) -> uuid.UUID:
            deal_id = ident(name)
            add(DealRegisteredV1(deal_id=deal_id, partner_id=p, customer=Customer(
                name=customer, domain=f"{name}.example", country="DE"), amount=eur(amount),
                expected_close_date=today + dt.timedelta(days=90), status="submitted"),
                deal_id, deals)
            return deal_id

        def approve(deal_id: uuid.UUID, days: int) -> None:
            add(DealApprovedV1(deal_id=deal_id, partner_id=p, status="approved", version=2,
                               protected_until=today + dt.timedelta(days=days)), deal_id, deals)

        d1 = register("globex", "Globex Åkerberg AB", "1000.00")
        approve(d1, 10)
        d2 = register("initech", "Initech", "2000.00")
        approve(d2, 40)
        add(DealUpdatedV1(deal_id=d2, partner_id=p, status="approved", version=3,
                          changed=["amount"], amount=eur("5000.00"),
                          expected_close_date=today + dt.timedelta(days=90), deal_type="new",
                          products=[]), d2, deals)
        d3 = register("umbrella", "Umbrella", "300.00")
        add(DealRejectedV1(deal_id=d3, partner_id=p, status="rejected", version=2,
                           previous_status="submitted", reason="duplicate"), d3, deals)
        d4 = register("hooli", "Hooli", "6000.00")
        approve(d4, 60)
        add(DealWonV1(deal_id=d4, partner_id=p, status="won", version=3, customer=Customer(
            name="Hooli", domain="hooli.example", country="DE"), amount=eur("7000.00"),
            closed_on=today, deal_type="new", products=[]), d4, deals)
        register("stark", "Stark Industries", "800.00")

        incentives = "/prm/incentives"
        allocation, budget = ident("allocation"), ident("budget")
        add(MdfAllocationCreatedV1(allocation_id=allocation, partner_id=p, budget_id=budget,
                                   amount=eur("10000.00"), version=1), allocation, incentives)

        def request(name: str, planned: str, activity: str, status: str = "submitted",
                    version: int = 1):
            fields = dict(request_id=ident(name), partner_id=p, allocation_id=allocation,
                          budget_id=budget, status=status, planned_cost=eur(planned),
                          version=version)
            return fields, dict(activity_type=activity, start_date=today,
                                end_date=today + dt.timedelta(days=7))

        r1, r1_more = request("webinar", "2500.00", "Webinar")
        add(MdfRequestSubmittedV1(**r1, **r1_more), r1["request_id"], incentives)
        add(MdfRequestApprovedV1(**{**r1, "status": "approved", "version": 2},
                                 approved_by="vendor", claim_due_on=today), r1["request_id"],
            incentives)
        claim = dict(claim_id=ident("claim"), request_id=r1["request_id"], partner_id=p,
                     claimed=eur("2000.00"))
        add(MdfClaimSubmittedV1(**claim, status="submitted", version=1, proofs=1),
            claim["claim_id"], incentives)
        add(MdfClaimApprovedV1(**claim, status="approved", version=2, approved=eur("1800.00"),
                               released=eur("700.00")), claim["claim_id"], incentives)
        r2, r2_more = request("trade-show", "1000.00", "Trade show")
        add(MdfRequestSubmittedV1(**r2, **r2_more), r2["request_id"], incentives)
        add(MdfRequestChangesRequestedV1(**{**r2, "status": "changes_requested", "version": 2},
                                         reason="add the agenda"), r2["request_id"], incentives)
        r3, r3_more = request("ads", "500.00", "Search ads")
        add(MdfRequestSubmittedV1(**r3, **r3_more), r3["request_id"], incentives)

        programme = ident("programme")
        add(RebateAccruedV1(accrual_id=ident("rebate"), programme_id=programme, partner_id=p,
                            deal_id=d4, kind="deal", amount=eur("300.00"), rate="5",
                            version=1), ident("rebate"), incentives)
        add(SpiffAccruedV1(accrual_id=ident("spiff"), spiff_id=ident("spiff-programme"),
                           partner_id=p, deal_id=d4, amount=eur("50.00"), capped=False,
                           version=1), ident("spiff"), incentives)
        add(RebateReversedV1(accrual_id=ident("true-up"), programme_id=programme, partner_id=p,
                             kind="true_up", amount=eur("100.00"), reason="band", version=1),
            ident("true-up"), incentives)
        for name, total, paid in (("paid-batch", "400.00", True), ("next-batch", "150.00",
                                                                    False)):
            batch = dict(batch_id=ident(name), partner_id=p,
                         period_from=today - dt.timedelta(days=60),
                         period_to=today - dt.timedelta(days=30 if paid else 1),
                         total=eur(total), lines=2)
            add(PayoutApprovedV1(**batch, status="approved", version=2), batch["batch_id"],
                incentives)
            if paid:
                add(PayoutPaidV1(**batch, status="paid", version=3, payment_reference="PAY-1",
                                 paid_on=today - dt.timedelta(days=5)), batch["batch_id"],
                    incentives)

    # What the home must show once every event above arrived.
    def expected_figures(self) -> dict:
        return {
            "tier": "Gold", "open": 3, "by_status": {"approved": 2, "rejected": 1, "won": 1,
                                                     "submitted": 1},
            "pipeline": [{"amount": "6800.00", "currency": "EUR"}],
            "protection_ending": [self.ids["globex"]],
            "allocated": [{"amount": "10000.00", "currency": "EUR"}],
            "available": [{"amount": "6700.00", "currency": "EUR"}],
            "earned": [{"amount": "250.00", "currency": "EUR"}],
            "certifications_active": 2, "expiring": ["CERT-SOON"],
        }


@pytest.fixture
def story(today):
    def tell(partner_id: uuid.UUID | None = None) -> Story:
        return Story(partner_id or uuid.uuid4(), today)
    return tell
