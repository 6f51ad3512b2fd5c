"""A won deal reversed in the deals service (``prm.deal.win_reversed.v1``): the worker reverses
every rebate and SPIFF accrual of the deal, once, with the reversal events; an accrual already
in a payout batch is kept, and says why, without failing the consumer; the reversed deal stops
counting in the partner's volume; replays of the topic change nothing."""

import datetime as dt
import itertools
import uuid
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prm_contracts import DEALS_TOPIC, DealWinReversedV1, DealWonV1
from prm_events.consumer import EventConsumer
from prm_events.envelope import new_event
from prm_incentives.payouts import service as payouts
from prm_incentives.payouts.schemas import PayoutBatchIn
from prm_incentives.rebates import service as rebates
from prm_incentives.rebates.handlers import HANDLERS
from prm_incentives.rebates.schemas import RebateProgrammeIn
from prm_incentives.spiffs import service as spiffs
from prm_incentives.spiffs.schemas import SpiffIn
from prm_incentives.worker import spec
from prm_platform.problems import Unprocessable

from .conftest import VENDOR, project_partner
from .rebate_helpers import deliver, won

_MAY = dt.date(2025, 5, 2)
WHY = "Booking cancelled by the customer before go-live."


def reversal(deal: DealWonV1, reason: str = WHY) -> DealWinReversedV1:
    return DealWinReversedV1(deal_id=deal.deal_id, partner_id=deal.partner_id,
                             status="win_reversed", version=deal.version + 1, reason=reason,
                             amount=deal.amount, closed_on=deal.closed_on)


def event_of(payload):
    return new_event(payload, source="/prm/deals", subject=str(payload.deal_id),
                     partner_id=payload.partner_id)


async def send(app, *payloads) -> None:
    """Through the handler map, as the worker applies them (no inbox: a replay after the
    inbox forgot the event)."""
    async with app.state.sessionmaker() as session:
        for payload in payloads:
            if isinstance(payload, DealWonV1):
                await deliver(session, payload)
            else:
                event = event_of(payload)
                await HANDLERS[event.type](session, event)
        await session.commit()


async def setup(client, vendor, *, spiff: bool = True) -> tuple[dict, dict | None]:
    """A 2 % rebate programme of 2025 and a SPIFF of 25.00 a deal in May 2025."""
    tag = uuid.uuid4().hex[:10]
    programme = await client.post("/v1/rebates/programmes", headers=vendor, json={
        "name": f"wr-{tag}", "currency": "EUR", "basis": "tier", "starts_on": "2025-01-01",
        "ends_on": "2025-12-31", "rules": [{"rate": "2"}]})
    assert programme.status_code == 201, programme.text
    if not spiff:
        return programme.json(), None
    made = await client.post("/v1/spiffs", headers=vendor, json={
        "name": f"wr-{tag}", "starts_on": "2025-04-01", "ends_on": "2025-06-30",
        "fixed_amount": {"amount": "25.00", "currency": "EUR"},
        "fund": {"amount": "1000.00", "currency": "EUR"}})
    assert made.status_code == 201, made.text
    return programme.json(), made.json()


async def of_deal(client, vendor, deal: DealWonV1) -> tuple[dict, dict]:
    """The deal's rebate accrual and SPIFF accrual."""
    found = []
    for url in ("/v1/rebates/accruals", "/v1/spiffs/accruals"):
        response = await client.get(url, headers=vendor, params={"deal_id": str(deal.deal_id)})
        assert response.status_code == 200, response.text
        [row] = response.json()["items"]
        found.append(row)
    return found[0], found[1]


async def payable(client, partner_id) -> int:
    """The partner's payable balances, in EUR cents."""
    return int((await client.connection.execute(text(
        "SELECT COALESCE(SUM(credits_posted - debits_posted), 0) FROM ledger_accounts "
        "WHERE kind = 'payable' AND partner_id = :p"), {"p": partner_id})).scalar_one())


async def reversed_events(client, partner_id) -> list[dict]:
    rows = await client.connection.execute(text(
        "SELECT envelope->'data' FROM outbox WHERE event_type IN ('prm.rebate.reversed.v1', "
        "'prm.spiff.reversed.v1') AND envelope->>'partnerid' = CAST(:p AS varchar) "
        "ORDER BY seq"), {"p": str(partner_id)})
    return [row[0] for row in rows]


def test_the_worker_consumes_win_reversals_from_the_deals_topic(prm_infra):
    [subscription] = [s for s in spec().subscriptions if s.name == "rebates"]
    assert subscription.topics == [DEALS_TOPIC]
    assert set(subscription.handlers) == {"prm.deal.won.v1", "prm.deal.win_reversed.v1"}


async def test_a_reversed_win_reverses_its_accruals_once(app, client, vendor, list_partner):
    programme, spiff = await setup(client, vendor)
    partner = await list_partner()
    undone, kept = won(partner, "1500.00", closed_on=_MAY), won(partner, "500.00",
                                                                 closed_on=_MAY)
    await send(app, undone, kept)
    assert await payable(client, partner) == 3000 + 2500 + 1000 + 2500

    consumer = EventConsumer("incentives.rebates-test", [DEALS_TOPIC], HANDLERS,
                             app.state.sessionmaker, producer=None)
    event = event_of(reversal(undone))
    assert await consumer.apply(event) is True
    rebate, bonus = await of_deal(client, vendor, undone)
    assert rebate["status"] == bonus["status"] == "reversed"
    assert rebate["reason"] == bonus["reason"] == f"deal win reversed: {WHY}"
    assert rebate["reversal_transfer_id"] and bonus["reversal_transfer_id"]
    assert rebate["version"] == bonus["version"] == 2
    assert await payable(client, partner) == 1000 + 2500  # the other deal's, untouched
    assert [r["status"] for r in await of_deal(client, vendor, kept)] == ["accrued"] * 2
    seen = (await client.get(f"/v1/spiffs/{spiff['id']}", headers=vendor)).json()
    assert seen["remaining"]["amount"] == "975.00"  # the bonus went back to the pool
    assert await reversed_events(client, partner) == [
        {"accrual_id": rebate["id"], "programme_id": programme["id"], "partner_id": str(partner),
         "deal_id": str(undone.deal_id), "kind": "deal",
         "amount": {"amount": "30.00", "currency": "EUR"}, "reason": rebate["reason"],
         "version": 2},
        {"accrual_id": bonus["id"], "spiff_id": spiff["id"], "partner_id": str(partner),
         "deal_id": str(undone.deal_id), "amount": {"amount": "25.00", "currency": "EUR"},
         "reason": bonus["reason"], "version": 2}]

    # Replays: the same event (the inbox drops it), then the topic read again from the start
    # after the inbox forgot it (the accruals' status drops it): nothing changes.
    assert await consumer.apply(event) is False
    await send(app, undone, reversal(undone), kept)
    assert await of_deal(client, vendor, undone) == (rebate, bonus)
    assert await payable(client, partner) == 3500
    assert len(await reversed_events(client, partner)) == 2
    # ... and the vendor cannot reverse it by hand again.
    again = await client.post(f"/v1/rebates/accruals/{rebate['id']}/reverse", headers=vendor,
                              json={"reason": "twice"})
    assert again.status_code == 409


async def test_an_accrual_in_a_payout_batch_is_kept_and_says_why(app, client, vendor,
                                                                 list_partner):
    await setup(client, vendor)
    partner = await list_partner()
    batched = won(partner, "1500.00", closed_on=_MAY)
    await send(app, batched)
    made = await client.post("/v1/payouts/batches", headers=vendor, json={
        "partner_id": str(partner), "currency": "EUR", "period_from": "2025-01-01",
        "period_to": "2025-12-31"})
    assert made.status_code == 201, made.text
    batch = made.json()
    later = won(partner, "500.00", closed_on=_MAY)
    await send(app, later)

    # Both wins reversed in one fetch: the batched deal's accruals stay, the other's go.
    await send(app, reversal(batched), reversal(later, "Order entered in error."))
    rebate, bonus = await of_deal(client, vendor, batched)
    for row in (rebate, bonus):
        assert row["status"] == "accrued" and row["reversal_transfer_id"] is None
        assert row["reason"] == (f"deal win reversed: {WHY}; not reversed: in payout batch "
                                 f"{batch['id']}")
        assert row["version"] == 2
    assert [r["status"] for r in await of_deal(client, vendor, later)] == ["reversed"] * 2
    assert await payable(client, partner) == 3000 + 2500  # what the batch pays
    assert {e["deal_id"] for e in await reversed_events(client, partner)} == {
        str(later.deal_id)}
    # Replayed: the record is not written again.
    await send(app, reversal(batched))
    assert await of_deal(client, vendor, batched) == (rebate, bonus)
    # The batch still pays what it held.
    lines = (await client.get(f"/v1/payouts/batches/{batch['id']}", headers=vendor)).json()
    assert lines["total"] == {"amount": "55.00", "currency": "EUR"}


async def test_a_reversed_deal_stops_counting_in_the_volume(app, client, vendor, list_partner):
    made = await client.post("/v1/rebates/programmes", headers=vendor, json={
        "name": f"wr-{uuid.uuid4().hex[:10]}", "currency": "EUR", "basis": "volume",
        "starts_on": "2025-01-01", "ends_on": "2025-12-31", "trailing_days": 365,
        "rules": [{"min_volume": {"amount": "100000.00", "currency": "EUR"}, "rate": "2"}]})
    assert made.status_code == 201, made.text
    partner = await list_partner()
    first = won(partner, "60000.00", closed_on=dt.date(2025, 2, 1))
    await send(app, first, reversal(first))
    [row] = (await client.get("/v1/rebates/accruals", headers=vendor, params={
        "deal_id": str(first.deal_id)})).json()["items"]
    # It earned nothing, so nothing moves back and nothing is announced; but it is reversed.
    assert row["status"] == "reversed" and row["amount"]["amount"] == "0.00"
    assert row["transfer_id"] is None and row["reversal_transfer_id"] is None
    assert await reversed_events(client, partner) == []
    second = won(partner, "50000.00", closed_on=dt.date(2025, 3, 1))
    await send(app, second)
    [row] = (await client.get("/v1/rebates/accruals", headers=vendor, params={
        "deal_id": str(second.deal_id)})).json()["items"]
    # 110000.00 with the reversed deal, which would have reached the 2 % band.
    assert row["volume"]["amount"] == "50000.00" and row["status"] == "no_rebate"


# --- property: over any wins, batches, reversals and replays --------------------------------

_days = itertools.count()
steps = st.lists(st.tuples(st.integers(1, 2_000_000), st.booleans(), st.booleans(),
                           st.booleans()), min_size=1, max_size=8)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=steps)
async def test_every_accrual_of_a_reversed_win_is_reversed_once_or_kept(committing, steps):
    """Deals are won (before or after a payout batch is made), some of their wins reversed,
    every event replayed: each accrual of a reversed deal is reversed exactly once or, in a
    batch, kept with the batch named; the others are untouched; the partner's payable holds
    exactly what the accruals still accrued moved to it."""
    # A window of its own far ahead: these committed programmes meet no other test's deals.
    day = dt.date(2300, 1, 1) + dt.timedelta(days=next(_days) + uuid.uuid4().int % 2000 * 100)
    partner = uuid.uuid4()
    async with committing() as session:
        await project_partner(session, partner)
        programme = await rebates.create_programme(session, VENDOR, RebateProgrammeIn(
            name=f"prop-wr-{uuid.uuid4().hex}", currency="EUR", basis="tier",
            starts_on=day, ends_on=day, rules=[{"rate": "3.3"}]))
        spiff = await spiffs.create_spiff(session, VENDOR, SpiffIn(
            name=f"prop-wr-{uuid.uuid4().hex}", starts_on=day, ends_on=day, rate="1",
            fund={"amount": "100000.00", "currency": "EUR"}))
        await session.commit()
    deals = [(won(partner, f"{Decimal(cents).scaleb(-2):.2f}", closed_on=day), before, undo,
              replay) for cents, before, undo, replay in steps]

    async def apply(*payloads) -> None:
        async with committing() as session:
            for payload in payloads:
                event = event_of(payload)
                await HANDLERS[event.type](session, event)
            await session.commit()

    await apply(*(deal for deal, before, _, _ in deals if before))
    batch = None
    async with committing() as session:
        try:
            batch = await payouts.create_batch(session, VENDOR, PayoutBatchIn(
                partner_id=partner, currency="EUR", period_from=day, period_to=day))
        except Unprocessable:  # nothing payable yet (no deal before, or too small to earn)
            pass
        await session.commit()
    await apply(*(deal for deal, before, _, _ in deals if not before))
    for deal, _, undo, replay in deals:
        if undo:
            await apply(*[reversal(deal)] * (2 if replay else 1))
        if replay:
            await apply(deal)

    async with committing() as session:
        rows = [*(await session.execute(text(
            "SELECT r.*, 'rebate' AS book FROM rebate_accruals r WHERE programme_id = :p"),
            {"p": programme.id})), *(await session.execute(text(
                "SELECT s.*, 'spiff' AS book FROM spiff_accruals s WHERE spiff_id = :s"),
                {"s": spiff.id}))]
        batched = await payouts.batched_of(
            session, [r.transfer_id for r in rows if r.transfer_id is not None])
        undone = {deal.deal_id for deal, _, undo, _ in deals if undo}
        for row in rows:
            if row.deal_id not in undone:
                assert row.status in ("accrued", "no_rebate", "capped") and row.version == 1
            elif row.transfer_id in batched:
                assert batch is not None
                assert row.status == "accrued" and row.version == 2
                assert row.reason.endswith(f"; not reversed: in payout batch {batch.id}")
            else:
                assert row.status == "reversed" and row.version == 2
        reversals = list(await session.execute(text(
            "SELECT envelope->'data'->>'accrual_id' AS id FROM outbox WHERE event_type IN "
            "('prm.rebate.reversed.v1', 'prm.spiff.reversed.v1') "
            "AND envelope->>'partnerid' = CAST(:p AS varchar)"), {"p": str(partner)}))
        announced = [uuid.UUID(r.id) for r in reversals]
        assert sorted(announced) == sorted(r.id for r in rows if r.status == "reversed"
                                           and r.transfer_id is not None)
        held = (await session.execute(text(
            "SELECT COALESCE(SUM(credits_posted - debits_posted), 0) FROM ledger_accounts "
            "WHERE kind = 'payable' AND partner_id = :p AND budget_id IN (:r, :s)"),
            {"p": partner, "r": programme.id, "s": spiff.id})).scalar_one()
        assert held == sum(r.amount for r in rows if r.status == "accrued")
