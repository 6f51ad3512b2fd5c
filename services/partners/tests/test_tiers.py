"""Programme tiers: the decision (unit and property tests), the set-up API, and tiers that move
from a stream of won deals: promoted at once, demoted after the grace period, unchanged by a
replay of the deals topic."""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prm_contracts import (
    Amount,
    CertificationEarnedV1,
    Customer,
    DealWonV1,
    PartnerTierChangedV1,
    PartnerTierProgressV1,
)
from prm_events.envelope import new_event
from prm_partners.compliance import service as compliance
from prm_partners.tiers import evaluate, service
from prm_partners.tiers.evaluate import DEMOTION, PROMOTION, Metrics, Pending, Requirements, Tier
from prm_partners.tiers.handlers import HANDLERS
from prm_platform.money import convert

TODAY = dt.datetime.now(dt.UTC).date()

# -- the decision, without a database -----------------------------------------------------------

SILVER = Tier("Silver", 10, Requirements(Decimal("10000"), "EUR", min_won_deals=2))
GOLD = Tier("Gold", 20, Requirements(Decimal("50000"), "EUR", min_won_deals=3,
                                     compliance_required=True))
REGISTERED = Tier("Registered", 0, Requirements())
TIERS = [REGISTERED, SILVER, GOLD]


def metrics(revenue="0", deals=0, certifications=0, compliant=True, currency="EUR"):
    return Metrics(Decimal(revenue), currency, deals, certifications, compliant)


def test_the_highest_tier_whose_criteria_all_hold():
    assert evaluate.qualifying(TIERS, metrics("60000", 3)) == GOLD
    assert evaluate.qualifying(TIERS, metrics("60000", 3, compliant=False)) == SILVER
    assert evaluate.qualifying(TIERS, metrics("9999.99", 5)) == REGISTERED
    assert evaluate.qualifying([SILVER, GOLD], metrics()) is None


def test_shortfalls_say_what_is_missing():
    gaps = evaluate.shortfalls(GOLD, metrics("12000", 1, compliant=False))
    assert gaps == ["revenue 12000.00 EUR of 50000.00 EUR (38000.00 short)",
                    "1 won deals of 3", "not compliant with the programme's requirements"]
    # a minimum stated in another currency than the base cannot hold
    assert "restate it in USD" in evaluate.shortfalls(GOLD, metrics("1e6", 9, currency="USD"))[0]


def test_shortfalls_as_values_and_codes():
    """Each shortfall names its criterion, the required and actual values and a stable code
    with the params a portal words it with; the English is the same as ``shortfalls``."""
    found = metrics("12000", 1, compliant=False)
    gaps = evaluate.gaps(GOLD, found)
    assert [(g.criterion, g.required, g.actual, g.code, g.params) for g in gaps] == [
        ("revenue", (Decimal("50000"), "EUR"), (Decimal("12000"), "EUR"),
         "revenue_below_minimum",
         {"actual": "12000.00", "required": "50000.00", "short": "38000.00", "currency": "EUR"}),
        ("won_deals", 3, 1, "won_deals_below_minimum", {"actual": 1, "required": 3}),
        ("compliant", True, False, "not_compliant", {})]
    assert [g.message for g in gaps] == evaluate.shortfalls(GOLD, found)
    certified = Tier("Certified", 5, Requirements(min_certifications=2))
    assert [(g.criterion, g.code, g.params) for g in evaluate.gaps(certified, found)] == [
        ("active_certifications", "certifications_below_minimum",
         {"actual": 0, "required": 2})]
    mismatch = evaluate.gaps(GOLD, metrics("1e6", 9, currency="USD"))[0]
    assert (mismatch.code, mismatch.params) == (
        "revenue_currency_mismatch", {"required_currency": "EUR", "base_currency": "USD"})
    # every code carries exactly the params it documents, and the schema lists every code
    every = [*gaps, *evaluate.gaps(certified, found), mismatch]
    assert {g.code for g in every} == set(evaluate.SHORTFALL_CODES)
    assert all(tuple(g.params) == evaluate.SHORTFALL_CODES[g.code] for g in every)
    from prm_partners.tiers.schemas import TierShortfall
    schema = TierShortfall.model_json_schema()
    codes = schema["$defs"][schema["properties"]["code"]["$ref"].rsplit("/", 1)[-1]]["enum"]
    assert set(codes) == set(evaluate.SHORTFALL_CODES)


def test_shortfalls_as_the_progress_event_carries_them():
    """Strings throughout: money in the base currency's minor unit with its currency,
    integers and booleans as they read."""
    found = metrics("12000", 1, certifications=1, compliant=False)
    certified_gold = Tier("Gold", 20, Requirements(Decimal("50000"), "EUR", 2, 3, True))
    carried = service.progress_shortfalls(evaluate.gaps(certified_gold, found))
    assert [(g.criterion, g.code, g.required, g.actual, g.currency) for g in carried] == [
        ("revenue", "revenue_below_minimum", "50000.00", "12000.00", "EUR"),
        ("active_certifications", "certifications_below_minimum", "2", "1", None),
        ("won_deals", "won_deals_below_minimum", "3", "1", None),
        ("compliant", "not_compliant", "true", "false", None)]
    assert [g.message for g in carried] == evaluate.shortfalls(certified_gold, found)
    [mismatch] = service.progress_shortfalls(
        evaluate.gaps(GOLD, metrics("1e6", 9, currency="JPY"))[:1])
    assert (mismatch.required, mismatch.actual, mismatch.currency) == (
        "50000.00", "1000000", "JPY")
    # the digest ignores the window's bounds (they move every day), not the values
    criteria = {"revenue": "1.00", "window_from": "2025-01-01", "window_to": "2026-01-01"}
    moved = {**criteria, "window_from": "2025-01-02", "window_to": "2026-01-02"}
    digest = service.progress_digest("Silver", "Gold", carried, criteria)
    assert service.progress_digest("Silver", "Gold", carried, moved) == digest
    assert service.progress_digest("Silver", "Gold", carried, {**criteria, "revenue": "2.00"}
                                   ) != digest
    assert service.progress_digest("Silver", "Gold", carried[1:], criteria) != digest
    assert service.progress_digest("Silver", None, carried, criteria) != digest
    assert service.progress_digest(None, "Gold", carried, criteria) != digest


def test_promotion_at_once_demotion_after_grace():
    day = dt.date(2026, 3, 1)
    up = evaluate.decide(TIERS, metrics("60000", 3), "Silver", None, day, 30)
    assert (up.tier, up.direction, up.pending) == ("Gold", PROMOTION, None)
    down = evaluate.decide(TIERS, metrics("0", 0), "Gold", None, day, 30)
    assert (down.tier, down.direction) == ("Gold", None)
    assert down.pending == Pending("Registered", day)
    assert down.due_on == day + dt.timedelta(days=30)
    later = evaluate.decide(TIERS, metrics("20000", 2), "Gold", down.pending,
                            day + dt.timedelta(days=29), 30)
    assert later.direction is None and later.pending == Pending("Silver", day)
    due = evaluate.decide(TIERS, metrics("20000", 2), "Gold", later.pending,
                          day + dt.timedelta(days=30), 30)
    assert (due.tier, due.direction, due.pending) == ("Silver", DEMOTION, None)
    assert "grace" in due.reason and "revenue 20000.00 EUR" in due.reason
    recovered = evaluate.decide(TIERS, metrics("60000", 3), "Gold", later.pending,
                                day + dt.timedelta(days=40), 30)
    assert (recovered.tier, recovered.direction, recovered.pending) == ("Gold", None, None)


def test_a_tier_that_left_the_programme_moves_at_once():
    gone = evaluate.decide(TIERS, metrics(), "Diamond", None, TODAY, 30)
    assert (gone.tier, gone.direction) == ("Registered", PROMOTION)


def test_conversion_is_exact_and_half_even():
    # The tiers convert with the platform's one conversion (prm_platform.money.convert).
    assert convert(Decimal("1000"), "JPY", "EUR", Decimal("0.0061235")) == Decimal("6.12")
    assert convert(Decimal("0.125"), "EUR", "EUR", Decimal("1")) == Decimal("0.12")
    assert convert(Decimal("0.135"), "EUR", "EUR", Decimal("1")) == Decimal("0.14")
    assert convert(Decimal("100.50"), "JPY", "JPY", Decimal("1")) == Decimal("100")
    assert convert(Decimal("101.50"), "JPY", "JPY", Decimal("1")) == Decimal("102")
    assert convert(Decimal("10"), "EUR", "KWD", Decimal("0.30285")) == Decimal("3.028")


def test_window_start_clamps_to_the_month():
    assert evaluate.window_start(dt.date(2026, 3, 31), 1) == dt.date(2026, 2, 28)
    assert evaluate.window_start(dt.date(2024, 3, 31), 1) == dt.date(2024, 2, 29)
    assert evaluate.window_start(dt.date(2026, 1, 15), 12) == dt.date(2025, 1, 15)
    assert evaluate.window_start(dt.date(2026, 1, 15), 25) == dt.date(2023, 12, 15)


# Properties of the decision over arbitrary tiers and partners.

tier_sets = st.lists(
    st.builds(
        lambda rank, revenue, deals, certs, compliance: Tier(
            f"T{rank}", rank, Requirements(
                None if revenue is None else Decimal(revenue), "EUR", certs, deals,
                compliance)),
        st.integers(0, 50), st.one_of(st.none(), st.integers(0, 100_000)),
        st.integers(0, 10), st.integers(0, 5), st.booleans()),
    max_size=6, unique_by=lambda t: t.rank)
partner_metrics = st.builds(
    lambda revenue, deals, certs, compliant: Metrics(Decimal(revenue), "EUR", deals, certs,
                                                     compliant),
    st.integers(0, 120_000), st.integers(0, 12), st.integers(0, 6), st.booleans())
days = st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31))


def _rank(tiers, name):
    return next((t.rank for t in tiers if t.name == name), -1)


@given(tier_sets, partner_metrics)
def test_property_qualifying_is_the_highest_satisfied_tier(tiers, found):
    satisfied = [t for t in tiers if not evaluate.shortfalls(t, found)]
    best = evaluate.qualifying(tiers, found)
    assert best == (max(satisfied, key=lambda t: t.rank) if satisfied else None)


@given(tier_sets, partner_metrics, partner_metrics)
def test_property_more_of_everything_never_qualifies_lower(tiers, a, b):
    more = Metrics(max(a.revenue, b.revenue), "EUR", max(a.won_deals, b.won_deals),
                   max(a.certifications, b.certifications), a.compliant or b.compliant)
    assert _rank(tiers, getattr(evaluate.qualifying(tiers, more), "name", None)) >= \
        _rank(tiers, getattr(evaluate.qualifying(tiers, a), "name", None))


@given(tier_sets, partner_metrics, st.data(), days, st.integers(0, 90),
       st.one_of(st.none(), st.integers(0, 200)))
def test_property_one_decision(tiers, found, data, as_of, grace, pending_age):
    held = data.draw(st.one_of(st.none(), st.sampled_from([t.name for t in tiers] or [None])))
    pending = None if pending_age is None else Pending(None, as_of - dt.timedelta(pending_age))
    decision = evaluate.decide(tiers, found, held, pending, as_of, grace)
    target = evaluate.qualifying(tiers, found)
    target_rank, held_rank = _rank(tiers, getattr(target, "name", None)), _rank(tiers, held)
    if target_rank > held_rank:  # promotion is never delayed
        assert decision.direction == PROMOTION and decision.tier == target.name
    if target_rank >= held_rank:  # qualifying for its tier clears any pending demotion
        assert decision.pending is None
    if decision.direction == DEMOTION:  # never before the grace period since first found
        since = pending.since if pending else as_of
        assert (as_of - since).days >= grace
        assert decision.tier == getattr(target, "name", None)
    if target_rank < held_rank and decision.direction is None:
        assert decision.tier == held and decision.pending is not None
        assert decision.pending.since == (pending.since if pending else as_of)
    # the tier held afterwards is what it held or what it qualifies for, never below that
    assert decision.tier in (held, getattr(target, "name", None))
    assert _rank(tiers, decision.tier) >= target_rank


@settings(max_examples=60)
@given(tier_sets, st.lists(st.tuples(st.integers(1, 20), partner_metrics), min_size=1,
                           max_size=25), st.integers(0, 40))
def test_property_a_series_of_evaluations(tiers, steps, grace):
    """Evaluations over time: a demotion comes only after the partner has been below its
    tier at every evaluation for at least the grace period."""
    held, pending, day = None, None, dt.date(2026, 1, 1)
    below_since = None
    for gap, found in steps:
        day += dt.timedelta(days=gap)
        decision = evaluate.decide(tiers, found, held, pending, day, grace)
        target_rank = _rank(tiers, getattr(evaluate.qualifying(tiers, found), "name", None))
        if target_rank < _rank(tiers, held):
            below_since = below_since or day
        else:
            below_since = None
        if decision.direction == DEMOTION:
            assert below_since is not None and (day - below_since).days >= grace
            below_since = None
        held, pending = decision.tier, decision.pending


# -- the set-up API -------------------------------------------------------------------------------

async def make_tier(client, vendor, name, rank, revenue=None, deals=0, **extra):
    body = {"name": name, "rank": rank, "min_won_deals": deals, **extra}
    if revenue is not None:
        body["min_revenue"] = {"amount": revenue, "currency": "EUR"}
    response = await client.post("/v1/tiers", json=body, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def test_tier_crud(client, vendor, as_partner):
    gold = await make_tier(client, vendor, "Gold", 20, "50000", 3, compliance_required=True,
                           min_active_certifications=2)
    assert gold["min_revenue"] == {"amount": "50000.00", "currency": "EUR"}
    url = f"/v1/tiers/{gold['id']}"
    got = await client.get(url, headers=vendor)
    assert got.headers["ETag"] == '"1"' and got.json() == gold
    stale = await client.patch(url, json={"min_won_deals": 4},
                               headers={**vendor, "If-Match": '"7"'})
    assert stale.status_code == 412
    changed = await client.patch(url, json={"min_won_deals": 4, "min_revenue": None},
                                 headers={**vendor, "If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["min_won_deals"] == 4 and changed.json()["min_revenue"] is None
    assert changed.headers["ETag"] == '"2"'
    duplicate = await client.post("/v1/tiers", json={"name": "Gold", "rank": 99},
                                  headers=vendor)
    assert duplicate.status_code == 409
    same_rank = await client.post("/v1/tiers", json={"name": "Gold+", "rank": 20},
                                  headers=vendor)
    assert same_rank.status_code == 409
    for n in range(3):
        await make_tier(client, vendor, f"T{n}", n)
    first = (await client.get("/v1/tiers?limit=2", headers=vendor)).json()
    rest = (await client.get(f"/v1/tiers?limit=2&cursor={first['next_cursor']}",
                             headers=vendor)).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 2 and rest["next_cursor"] is None
    # partner keys read the programme, never change it
    partner = (await client.post("/v1/partners", json={
        "name": "P", "type": "reseller", "country": "GB"}, headers=vendor)).json()
    assert (await client.get(url, headers=as_partner(partner["id"]))).status_code == 200
    assert (await client.delete(url, headers=as_partner(partner["id"]))).status_code == 403
    assert (await client.delete(url, headers={**vendor, "If-Match": '"2"'})).status_code == 204
    assert (await client.get(url, headers=vendor)).status_code == 404


async def test_bad_tier_input_is_a_problem(client, vendor):
    for body, field in (
        ({"name": "X", "rank": -1}, "rank"),
        ({"name": "X", "rank": 1, "min_revenue": {"amount": "-5", "currency": "EUR"}},
         "min_revenue.amount"),
        ({"name": "X", "rank": 1, "min_revenue": {"amount": "1" * 16, "currency": "EUR"}},
         "min_revenue.amount"),
        ({"name": "X", "rank": 1, "min_revenue": {"amount": "10", "currency": "ZZZ"}},
         "min_revenue.currency"),
        ({"name": "X", "rank": 1, "min_revenue": {"amount": "10.5", "currency": "JPY"}},
         "min_revenue"),
        ({"name": "X", "rank": 1, "min_won_deals": 2.5}, "min_won_deals"),
        ({"name": "", "rank": 1}, "name"),
    ):
        response = await client.post("/v1/tiers", json=body, headers=vendor)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert any(e["field"].startswith(field) for e in response.json()["errors"]), \
            response.json()
    # a minimum in another currency than the base one
    other = await client.post("/v1/tiers", json={
        "name": "X", "rank": 1, "min_revenue": {"amount": "10", "currency": "USD"}},
        headers=vendor)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "min_revenue.currency"


async def test_programme_settings(client, vendor, as_vendor):
    got = await client.get("/v1/tiers/programme", headers=vendor)
    assert got.status_code == 200
    version = got.headers["ETag"]
    assert got.json()["window_months"] >= 1
    put = await client.put("/v1/tiers/programme", json={
        "base_currency": "USD", "demotion_grace_days": 45}, headers={**vendor,
                                                                     "If-Match": version})
    assert put.status_code == 200, put.text
    assert put.json()["base_currency"] == "USD" and put.json()["window_months"] == 12
    stale = await client.put("/v1/tiers/programme", json={
        "base_currency": "EUR", "demotion_grace_days": 30}, headers={**vendor,
                                                                     "If-Match": version})
    assert stale.status_code == 412
    for body in ({"base_currency": "ZZZ", "demotion_grace_days": 30},
                 {"base_currency": "EUR", "demotion_grace_days": -1},
                 {"base_currency": "EUR", "demotion_grace_days": 30, "window_months": 0}):
        bad = await client.put("/v1/tiers/programme", json=body, headers=vendor)
        assert bad.status_code == 422 and bad.json()["type"] == "/problems/validation-error"
    reader = as_vendor(["programme:read"])
    assert (await client.put("/v1/tiers/programme", json={
        "base_currency": "EUR", "demotion_grace_days": 30}, headers=reader)).status_code == 403


# -- tiers moving from won deals --------------------------------------------------------------

@pytest.fixture
def db(app, client):
    """Sessions on the test client's connection (rolled back with it): handlers and jobs
    write what the API then reads."""
    return app.state.sessionmaker


def won_event(partner_id, amount, currency, closed_on, deal_id=None, version=3):
    payload = DealWonV1(deal_id=deal_id or uuid.uuid4(), partner_id=partner_id, status="won",
                        version=version, customer=Customer(name="Initech", domain="initech.example",
                                                           country="DE"),
                        amount=Amount(amount=amount, currency=currency), closed_on=closed_on,
                        deal_type="new", products=[])
    return new_event(payload, source="/prm/deals", subject=str(payload.deal_id),
                     partner_id=partner_id)


async def deliver(db, event):
    async with db() as session:
        await HANDLERS[event.type](session, event)
        await session.commit()


async def evaluate_on(db, partner_id, as_of):
    async with db() as session:
        decision = await service.evaluate_partner(session, partner_id, as_of)
        await session.commit()
    return decision


async def active_partner(client, vendor, name="Acme"):
    partner = (await client.post("/v1/partners", json={
        "name": name, "type": "reseller", "country": "DE"}, headers=vendor)).json()
    return (await client.post(f"/v1/partners/{partner['id']}/activate",
                              headers=vendor)).json()


async def programme_eur(client, vendor, grace=30):
    response = await client.put("/v1/tiers/programme", json={
        "base_currency": "EUR", "demotion_grace_days": grace, "window_months": 12},
        headers=vendor)
    assert response.status_code == 200, response.text


async def standard_tiers(client, vendor):
    await make_tier(client, vendor, "Registered", 0)
    await make_tier(client, vendor, "Silver", 10, "10000", 2)
    await make_tier(client, vendor, "Gold", 20, "50000", 3)


async def tier_events(client, partner_id):
    rows = await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k AND event_type = :t ORDER BY seq"),
        {"k": partner_id, "t": PartnerTierChangedV1.event_type})
    return [json.loads(r.envelope) if isinstance(r.envelope, str | bytes) else r.envelope
            for r in rows]


async def progress_events(client, partner_id):
    rows = await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k AND event_type = :t ORDER BY seq"),
        {"k": str(partner_id), "t": PartnerTierProgressV1.event_type})
    return [json.loads(r.envelope)["data"] if isinstance(r.envelope, str | bytes)
            else r.envelope["data"] for r in rows]


async def history(client, vendor, partner_id):
    response = await client.get(f"/v1/partners/{partner_id}/tier-history", headers=vendor)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_won_deals_promote_then_the_grace_period_demotes(client, vendor, db):
    await programme_eur(client, vendor)
    await standard_tiers(client, vendor)
    partner = await active_partner(client, vendor)
    pid = uuid.UUID(partner["id"])
    events = [won_event(pid, "6000.00", "EUR", TODAY - dt.timedelta(days=20)),
              won_event(pid, "6000.00", "EUR", TODAY - dt.timedelta(days=10)),
              won_event(pid, "40000.00", "EUR", TODAY - dt.timedelta(days=5))]
    tiers_seen = []
    for event in events:
        await deliver(db, event)
        got = await client.get(f"/v1/partners/{pid}", headers=vendor)
        tiers_seen.append(got.json()["tier"])
    assert tiers_seen == ["Registered", "Silver", "Gold"]
    entries = await history(client, vendor, pid)
    assert [(e["from_tier"], e["to_tier"], e["direction"]) for e in entries] == [
        (None, "Registered", "promotion"), ("Registered", "Silver", "promotion"),
        ("Silver", "Gold", "promotion")]
    gold = entries[-1]
    assert gold["criteria"]["revenue"] == {"amount": "52000.00", "currency": "EUR"}
    assert gold["criteria"]["won_deals"] == 3 and gold["criteria"]["compliant"] is True
    assert gold["reason"].startswith("meets every criterion of Gold")
    published = await tier_events(client, str(pid))
    assert [e["data"]["tier"] for e in published] == ["Registered", "Silver", "Gold"]
    last = published[-1]["data"]
    assert last["criteria"]["revenue"] == "52000.00" and last["criteria"]["won_deals"] == "3"
    assert last["partner"]["tier"] == "Gold" and last["direction"] == "promotion"
    version = (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()["version"]
    assert last["partner"]["version"] == version

    # a year on, two deals have left the window: below Gold, a demotion is pending
    first_below = TODAY + dt.timedelta(days=358)
    await evaluate_on(db, pid, first_below)
    view = (await client.get(f"/v1/partners/{pid}/tier?as_of={first_below}",
                             headers=vendor)).json()
    assert view["tier"] == "Gold" and view["qualifying_tier"] == "Registered"
    assert view["pending_demotion"] == {
        "to_tier": "Registered", "since": first_below.isoformat(),
        "effective_on": (first_below + dt.timedelta(days=30)).isoformat()}
    assert view["criteria"]["won_deals"] == 1
    assert view["next_tier"] is None  # nothing above Gold
    # the grace period runs from the first evaluation that found it lower
    await evaluate_on(db, pid, first_below + dt.timedelta(days=29))
    assert (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()["tier"] == "Gold"
    decision = await evaluate_on(db, pid, first_below + dt.timedelta(days=30))
    assert decision.direction == "demotion"
    assert (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()["tier"] == \
        "Registered"
    demoted = (await history(client, vendor, pid))[-1]
    assert (demoted["from_tier"], demoted["to_tier"], demoted["direction"]) == (
        "Gold", "Registered", "demotion")
    assert f"below Gold since {first_below.isoformat()}" in demoted["reason"]
    assert "30-day grace period" in demoted["reason"]
    assert demoted["criteria"]["won_deals"] == 0
    assert demoted["criteria"]["revenue"]["amount"] == "0.00"
    assert len(await tier_events(client, str(pid))) == 4
    view = (await client.get(f"/v1/partners/{pid}/tier?as_of={first_below}",
                             headers=vendor)).json()
    assert view["next_tier"]["name"] == "Silver"


async def test_a_pending_demotion_clears_when_the_partner_qualifies_again(client, vendor, db):
    await programme_eur(client, vendor, grace=30)
    await standard_tiers(client, vendor)
    pid = uuid.UUID((await active_partner(client, vendor))["id"])
    for days_ago in (30, 15, 10):
        await deliver(db, won_event(pid, "20000.00", "EUR", TODAY - dt.timedelta(days_ago)))
    assert (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()["tier"] == "Gold"
    below = TODAY + dt.timedelta(days=340)  # the first deal has left the window
    await evaluate_on(db, pid, below)
    # a new deal before the grace period ends: Gold again, nothing pending, nothing recorded
    await deliver(db, won_event(pid, "20000.00", "EUR", below + dt.timedelta(days=3)))
    await evaluate_on(db, pid, below + dt.timedelta(days=5))
    view = (await client.get(f"/v1/partners/{pid}/tier?as_of={below + dt.timedelta(days=5)}",
                             headers=vendor)).json()
    assert view["pending_demotion"] is None and view["tier"] == "Gold"
    assert [e["to_tier"] for e in await history(client, vendor, pid)] == [
        "Registered", "Silver", "Gold"]
    await evaluate_on(db, pid, below + dt.timedelta(days=40))
    assert (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()["tier"] == "Gold"


async def test_replaying_the_deals_topic_changes_nothing(client, vendor, db):
    await programme_eur(client, vendor)
    await standard_tiers(client, vendor)
    pid = uuid.UUID((await active_partner(client, vendor))["id"])
    events = [won_event(pid, "30000.00", "EUR", TODAY - dt.timedelta(days=d))
              for d in (9, 8, 7)]
    for event in events:
        await deliver(db, event)

    async def state():
        partner = (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()
        tier = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
        facts = (await client.connection.execute(text(
            "SELECT count(*), sum(base_amount) FROM tier_deal_facts WHERE partner_id = :p"),
            {"p": pid})).one()
        return (partner["tier"], partner["version"], tier["criteria"],
                await history(client, vendor, pid), len(await tier_events(client, str(pid))),
                tuple(facts))

    before = await state()
    assert before[0] == "Gold"
    # the same events again (a redelivery past the inbox), then the topic replayed from the
    # start under new event ids, and an older version of a deal
    for event in events:
        await deliver(db, event)
    for event in events:
        await deliver(db, new_event(event.payload(), source="/prm/deals",
                                    subject=event.subject or "", partner_id=pid))
    stale = events[0].payload()
    assert isinstance(stale, DealWonV1)
    await deliver(db, won_event(pid, "1.00", "EUR", TODAY, deal_id=stale.deal_id, version=2))
    assert await state() == before


async def test_job_evaluates_every_active_partner_once_a_day(client, vendor, db):
    await programme_eur(client, vendor)
    await standard_tiers(client, vendor)
    pid = uuid.UUID((await active_partner(client, vendor, "Job Co"))["id"])
    async with db() as session:
        while await service.evaluate_due(session, batch=500) == 500:
            pass
        await session.commit()
    assert (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()["tier"] == \
        "Registered"
    async with db() as session:  # evaluated today already: nothing left to do
        assert await service.evaluate_due(session) == 0
        # a tier changed: everyone is due again
        await session.commit()
    gold = (await client.get("/v1/tiers", headers=vendor)).json()["items"][-1]
    await client.patch(f"/v1/tiers/{gold['id']}", json={"min_won_deals": 9}, headers=vendor)
    async with db() as session:
        assert await service.evaluate_due(session, batch=10_000) >= 1
        await session.commit()


async def test_evaluate_now(client, vendor, as_partner):
    await programme_eur(client, vendor)
    await standard_tiers(client, vendor)
    partner = await active_partner(client, vendor)
    url = f"/v1/partners/{partner['id']}/tier/evaluate"
    done = await client.post(url, headers=vendor)
    assert done.status_code == 200, done.text
    assert done.json()["tier"] == "Registered"
    assert done.json()["next_tier"] == {"name": "Silver", "missing": [
        "revenue 0.00 EUR of 10000.00 EUR (10000.00 short)", "0 won deals of 2"], "shortfalls": [
        {"criterion": "revenue", "required": {"amount": "10000.00", "currency": "EUR"},
         "actual": {"amount": "0.00", "currency": "EUR"}, "code": "revenue_below_minimum",
         "params": {"actual": "0.00", "required": "10000.00", "short": "10000.00",
                    "currency": "EUR"},
         "message": "revenue 0.00 EUR of 10000.00 EUR (10000.00 short)"},
        {"criterion": "won_deals", "required": 2, "actual": 0, "code": "won_deals_below_minimum",
         "params": {"actual": 0, "required": 2}, "message": "0 won deals of 2"}]}
    future = await client.post(f"{url}?as_of={TODAY + dt.timedelta(days=1)}", headers=vendor)
    assert future.status_code == 422
    bad = await client.post(f"{url}?as_of=2026-02-30", headers=vendor)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    # a partner reads its own tier but does not evaluate it
    own = as_partner(partner["id"])
    assert (await client.get(f"/v1/partners/{partner['id']}/tier", headers=own)
            ).status_code == 200
    assert (await client.post(url, headers=own)).status_code == 403
    onboarding = (await client.post("/v1/partners", json={
        "name": "New", "type": "msp", "country": "DE"}, headers=vendor)).json()
    assert (await client.post(f"/v1/partners/{onboarding['id']}/tier/evaluate",
                              headers=vendor)).status_code == 409


async def test_certifications_and_compliance_count_towards_a_tier(client, vendor, db):
    """Whatever the compliance part counts for the partner is what the criteria read."""
    await programme_eur(client, vendor)
    pid = uuid.UUID((await active_partner(client, vendor))["id"])
    async with db() as session:
        count = await compliance.active_certification_count(session, pid, TODAY)
        compliant = await compliance.is_compliant(session, pid, TODAY)
    await make_tier(client, vendor, "Registered", 0)
    certified = await make_tier(client, vendor, "Certified", 10,
                                min_active_certifications=count + 1)
    await evaluate_on(db, pid, TODAY)
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert view["tier"] == "Registered"
    assert view["criteria"]["active_certifications"] == count
    assert view["criteria"]["compliant"] is compliant
    assert f"{count} active certifications of {count + 1}" in view["next_tier"]["missing"]
    assert {"criterion": "active_certifications", "required": count + 1, "actual": count,
            "code": "certifications_below_minimum",
            "params": {"actual": count, "required": count + 1},
            "message": f"{count} active certifications of {count + 1}"} in \
        view["next_tier"]["shortfalls"]
    await client.patch(f"/v1/tiers/{certified['id']}", json={
        "min_active_certifications": count}, headers=vendor)
    await evaluate_on(db, pid, TODAY)
    assert (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()["tier"] == \
        "Certified"
    await make_tier(client, vendor, "Compliant", 20, compliance_required=True)
    await deliver(db, new_event(CertificationEarnedV1(
        partner_id=pid, certification_id=uuid.uuid4(), code="SEC-101", earned_on=TODAY),
        source="/prm/partners", subject=str(pid), partner_id=pid))
    assert (await client.get(f"/v1/partners/{pid}", headers=vendor)).json()["tier"] == \
        ("Compliant" if compliant else "Certified")


# -- progress to the next tier, announced -------------------------------------------------------

async def test_progress_is_announced_when_it_changes(client, vendor, db):
    await programme_eur(client, vendor)
    await standard_tiers(client, vendor)
    pid = uuid.UUID((await active_partner(client, vendor))["id"])
    assert await progress_events(client, pid) == []

    # the first evaluation announces where the partner stands
    await evaluate_on(db, pid, TODAY)
    [first] = await progress_events(client, pid)
    assert PartnerTierProgressV1.model_validate(first).partner_id == pid
    assert (first["tier"], first["next_tier"], first["version"]) == ("Registered", "Silver", 1)
    assert first["evaluated_on"] == TODAY.isoformat()
    assert first["shortfalls"] == [
        {"criterion": "revenue", "code": "revenue_below_minimum", "required": "10000.00",
         "actual": "0.00", "currency": "EUR",
         "message": "revenue 0.00 EUR of 10000.00 EUR (10000.00 short)"},
        {"criterion": "won_deals", "code": "won_deals_below_minimum", "required": "2",
         "actual": "0", "currency": None, "message": "0 won deals of 2"}]
    assert first["criteria"]["revenue"] == "0.00" and first["criteria"]["won_deals"] == "0"
    assert first["criteria"]["revenue_currency"] == "EUR"
    assert first["criteria"]["window_to"] == TODAY.isoformat()
    # it says what the tier view says
    view = (await client.get(f"/v1/partners/{pid}/tier", headers=vendor)).json()
    assert [g["message"] for g in first["shortfalls"]] == view["next_tier"]["missing"]

    # evaluated again, the same day or the next, with nothing changed: nothing announced
    await evaluate_on(db, pid, TODAY)
    await evaluate_on(db, pid, TODAY + dt.timedelta(days=1))
    assert len(await progress_events(client, pid)) == 1

    # a won deal changes the partner's values: announced, with a higher version
    await deliver(db, won_event(pid, "6000.00", "EUR", TODAY - dt.timedelta(days=3)))
    [_, closer] = await progress_events(client, pid)
    assert (closer["tier"], closer["next_tier"], closer["version"]) == (
        "Registered", "Silver", 2)
    assert [(g["criterion"], g["actual"]) for g in closer["shortfalls"]] == [
        ("revenue", "6000.00"), ("won_deals", "1")]
    assert closer["criteria"]["revenue"] == "6000.00"

    # a promotion: the tier changed event, then the progress to the tier above
    second = won_event(pid, "6000.00", "EUR", TODAY - dt.timedelta(days=2))
    await deliver(db, second)
    types = (await client.connection.execute(text(
        "SELECT event_type FROM outbox WHERE key = :k AND event_type LIKE 'prm.partner.tier%' "
        "ORDER BY seq"), {"k": str(pid)})).scalars().all()
    assert types[-2:] == [PartnerTierChangedV1.event_type, PartnerTierProgressV1.event_type]
    promoted = (await progress_events(client, pid))[-1]
    assert (promoted["tier"], promoted["next_tier"], promoted["version"]) == (
        "Silver", "Gold", 3)
    assert [(g["criterion"], g["required"], g["actual"]) for g in promoted["shortfalls"]] == [
        ("revenue", "50000.00", "12000.00"), ("won_deals", "3", "2")]
    # a redelivered deal changes nothing, so announces nothing
    await deliver(db, second)
    await evaluate_on(db, pid, TODAY)
    assert [e["version"] for e in await progress_events(client, pid)] == [1, 2, 3]

    # at the top, nothing above: no next tier, no shortfalls
    await deliver(db, won_event(pid, "40000.00", "EUR", TODAY - dt.timedelta(days=1)))
    top = (await progress_events(client, pid))[-1]
    assert (top["tier"], top["next_tier"], top["shortfalls"], top["version"]) == (
        "Gold", None, [], 4)
    # a change of the tiers alone (a new one above) is announced at the next evaluation
    await make_tier(client, vendor, "Platinum", 30, "100000", 5)
    await evaluate_on(db, pid, TODAY)
    above = (await progress_events(client, pid))[-1]
    assert (above["tier"], above["next_tier"], above["version"]) == ("Gold", "Platinum", 5)
    assert [g["criterion"] for g in above["shortfalls"]] == ["revenue", "won_deals"]


async def test_progress_without_tiers(client, vendor, db):
    """A programme without tiers: the partner holds none and has none to reach."""
    await programme_eur(client, vendor)
    await client.connection.execute(text("DELETE FROM tiers"))
    pid = uuid.UUID((await active_partner(client, vendor))["id"])
    await evaluate_on(db, pid, TODAY)
    await evaluate_on(db, pid, TODAY)
    [progress] = await progress_events(client, pid)
    assert (progress["tier"], progress["next_tier"], progress["shortfalls"]) == (
        None, None, [])
