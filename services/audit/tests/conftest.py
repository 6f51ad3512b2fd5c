import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from prm_audit.config import SCHEMA, Settings
from prm_audit.main import create_app
from prm_audit.worker import spec
from prm_events.consumer import EventConsumer, Part
from prm_events.envelope import CloudEvent
from prm_platform.db import make_engine, make_sessionmaker
from prm_platform.ids import new_id
from prm_stack.testing import committing_client, migrate, partner_headers, vendor_headers

SERVICE_DIR = Path(__file__).resolve().parents[1]
TABLES = "audit_entries, audit_chains, inbox"


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


async def superuser(engine, *statements: str, **params: Any) -> None:
    """Run SQL as a database superuser would to get around the trail's trigger (which only
    the chain can then betray)."""
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await connection.execute(text(statement), params)


@pytest.fixture
async def fresh(engine):
    """An empty trail before and after the test (its events commit)."""
    async def empty() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL prm_audit.maintenance = 'on'"))
            await connection.execute(text(f"TRUNCATE {TABLES}"))
    await empty()
    yield empty
    await empty()


@pytest.fixture
async def client(app, fresh):
    async with committing_client(app) as client:
        yield client


@pytest.fixture
def vendor(prm_infra):
    return vendor_headers(prm_infra.internal_secret, ["audit:read"])


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id: uuid.UUID, scopes=("audit:read",)):
        return partner_headers(prm_infra.internal_secret, partner_id, scopes)
    return headers


def worker_consumer(sessionmaker) -> EventConsumer:
    """The worker's one consumer: every subscription of its spec, in one transaction."""
    parts = [Part(sub.name, tuple(sub.topics), sub.handlers) for sub in spec().subscriptions]
    return EventConsumer.shared("audit.events", parts, sessionmaker,
                                producer=None)  # type: ignore[arg-type]  # no dead letters


@pytest.fixture
def consume(sessionmaker, fresh):
    consumer = worker_consumer(sessionmaker)

    async def apply(*events: CloudEvent, batch: bool = True) -> None:
        if batch:
            await consumer.apply_batch(list(events))
            return
        for event in events:
            await consumer.apply_batch([event])
    return apply


T0 = dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)


def event(type_: str, data: dict[str, Any], *, source: str = "/prm/partners",
          subject: uuid.UUID | str | None = None, partner_id: uuid.UUID | None = None,
          actor: str | None = "key:0193b79f-0000-7000-8000-00000000000a",
          request_id: str | None = None, at: dt.datetime = T0) -> CloudEvent:
    """An event as a context publishes it (its actor and request at its origin)."""
    return CloudEvent(id=new_id(), source=source, type=type_,
                      subject=str(subject) if subject else None, time=at, data=data,
                      partnerid=str(partner_id) if partner_id else None, actor=actor,
                      requestid=request_id)


def claim_approved(claim_id: uuid.UUID, partner_id: uuid.UUID, *,
                   actor: str | None = "key:0193b79f-0000-7000-8000-00000000000a",
                   request_id: str | None = None, at: dt.datetime = T0) -> CloudEvent:
    from prm_contracts import Amount, MdfClaimApprovedV1

    eur = "EUR"
    payload = MdfClaimApprovedV1(
        claim_id=claim_id, request_id=uuid.uuid4(), partner_id=partner_id, status="approved",
        claimed=Amount(amount="2000.00", currency=eur), version=2,
        approved=Amount(amount="1800.00", currency=eur),
        released=Amount(amount="700.00", currency=eur))
    # Keyed by its allocation, as the incentives service keys a claim's events.
    return event(payload.event_type, payload.model_dump(mode="json"), source="/prm/incentives",
                 subject=uuid.uuid4(), partner_id=partner_id, actor=actor, request_id=request_id,
                 at=at)


def tier_changed(partner_id: uuid.UUID, *, actor: str | None = "job:evaluate-tiers",
                 at: dt.datetime = T0) -> CloudEvent:
    from prm_contracts import PartnerSnapshot, PartnerTierChangedV1

    payload = PartnerTierChangedV1(
        partner=PartnerSnapshot(id=partner_id, name="Müller Systemhaus", type="reseller",
                                country="DE", status="active", version=3, tier="Gold"),
        previous_tier=None, tier="Gold", direction="promotion",
        criteria={"revenue": "120000.00"}, reason="revenue reached")
    return event(payload.event_type, payload.model_dump(mode="json"), subject=partner_id,
                 partner_id=partner_id, actor=actor, at=at)


def contact_changed(partner_id: uuid.UUID, contact_id: uuid.UUID, version: int, *,
                    name: str | None = None, email: str | None = None,
                    removed: bool = False) -> CloudEvent:
    from prm_contracts import ContactChangedV1

    payload = ContactChangedV1(contact_id=contact_id, partner_id=partner_id, name=name,
                               email=email, job_title="Head of IT" if name else None,
                               removed=removed, version=version)
    return event(payload.event_type, payload.model_dump(mode="json"), subject=partner_id,
                 partner_id=partner_id)
