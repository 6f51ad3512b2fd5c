"""The early-warning estimators in the service: trained from the facts the portal keeps (a
generated history of known churners, moved to end yesterday), refused on too little history,
and applied at scoring, where a churn risk above the threshold is announced once."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_portal.health import service

PARTNERS = 300


async def load_history(engine, history, partners: int) -> list[uuid.UUID]:
    """The generated facts, moved so that the history ends yesterday."""
    found = history.histories(history.simulated_history(seed=7, partners=partners))
    shift = service.today() - dt.timedelta(days=1) - history.END
    now = dt.datetime.now(dt.UTC)
    rows = [(fact.kind, uuid.uuid4(), partner_id, fact.occurred_on + shift, fact.value,
             uuid.uuid4(), now) for partner_id, facts in found.items() for fact in facts]
    async with engine.begin() as connection:
        raw = await connection.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            "health_facts", records=rows, schema_name="portal",
            columns=["kind", "ref_id", "partner_id", "occurred_on", "value", "event_id",
                     "recorded_at"])
    return sorted(found)


@pytest.fixture
async def clean(fresh, engine):
    yield
    async with engine.begin() as connection:
        await connection.execute(text(
            "DELETE FROM outbox WHERE topic = 'prm.partner-health'"))


async def test_estimators_learn_from_the_history_and_warn_once(clean, engine, sessionmaker,
                                                               health_history):
    ids = await load_history(engine, health_history, PARTNERS)
    async with sessionmaker() as session, session.begin():
        assert await service.train_estimators(session) == 2
    async with sessionmaker() as session, session.begin():
        assert await service.score_partners(session, ids, service.today()) == PARTNERS
    async with engine.connect() as connection:
        scored = list(await connection.execute(text(
            "SELECT churn_risk, churn_drivers, growth, risk_raised FROM partner_health")))
        raised = (await connection.execute(text(
            "SELECT count(*) FROM outbox WHERE event_type = 'prm.partner.churn_risk_raised.v1'"
        ))).scalar_one()
    assert len(scored) == PARTNERS
    assert all(r.churn_risk is not None and 0 <= r.churn_risk <= 1 for r in scored)
    assert all(r.growth is not None for r in scored)
    assert all(r.churn_drivers and r.churn_drivers[0]["says"] for r in scored)
    flagged = sum(r.risk_raised for r in scored)
    # The history holds partners gone quiet and partners thriving: both sides are there.
    assert 0 < flagged < PARTNERS
    assert raised == flagged
    # Scored again (the daily run): no partner is announced twice.
    async with sessionmaker() as session, session.begin():
        await service.score_partners(session, ids, service.today())
    async with engine.connect() as connection:
        assert (await connection.execute(text(
            "SELECT count(*) FROM outbox WHERE event_type = 'prm.partner.churn_risk_raised.v1'"
        ))).scalar_one() == raised


async def test_too_little_history_trains_nothing_and_estimates_nothing(clean, engine,
                                                                       sessionmaker,
                                                                       health_history):
    ids = await load_history(engine, health_history, 5)
    async with sessionmaker() as session, session.begin():
        assert await service.train_estimators(session) == 0
        await service.score_partners(session, ids, service.today())
    async with engine.connect() as connection:
        risks = {r.churn_risk for r in await connection.execute(text(
            "SELECT churn_risk FROM partner_health"))}
    assert risks == {None}
