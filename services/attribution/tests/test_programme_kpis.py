"""The programme KPIs from the deals', partners' and incentives' events, against values
computed by hand: ROPI, costs and payouts, pipeline contribution, certification velocity, MDF
ROI per activity and per type, CLTV by partner type, partner acquisition cost; the projection
of the costs under replay; the scheduled recompute of the data-driven credits."""

import datetime as dt
import uuid
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from prm_attribution.crediting.datadriven import History
from prm_attribution.kpis.figures import ratio, round_half_even
from prm_attribution.results.background import recompute_datadriven
from prm_attribution.results.service import read_history, recompute

PERIOD = "from=2026-09-01&to=2026-12-01"


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


async def _touch(client, headers, **body):
    response = await client.post("/v1/touchpoints", headers=headers, json={
        "evidence": {"description": "Recorded in the CRM"}, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def _figure(client, vendor, kind, start, end, amount, partner_type=None):
    response = await client.post("/v1/attribution-vendor-figures", headers=vendor, json={
        "kind": kind, "period_from": start, "period_to": end, "amount": _eur(amount),
        "partner_type": partner_type})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_ropi_costs_payouts_contribution_and_certifications_per_partner(
        client, apply, vendor, kit):
    T0, DealStory = kit.T0, kit.DealStory
    a, b = uuid.uuid4(), uuid.uuid4()
    won = DealStory(a, amount="1000.00")
    won_usd = DealStory(a, amount="200.00", currency="USD")
    open_deal = DealStory(a, amount="500.00")
    await apply(kit.partner_created(a, at=T0 - dt.timedelta(days=10)),
                kit.partner_created(b, type_="isv"),
                *(e for d in (won, won_usd, open_deal) for e in (d.registered(), d.approved())),
                won.won(), won_usd.won())
    await _touch(client, vendor, partner_id=str(b), deal_id=str(won_usd.deal_id),
                 kind="consulting", occurred_at=(T0 + dt.timedelta(days=10)).isoformat())
    await apply(kit.rate_set("USD", "EUR", "0.9", dt.date(2026, 1, 1)))
    mdf = kit.MdfStory(a)
    rebate = kit.rebate(a, won.deal_id, "20.00")
    spiff = kit.spiff(a, won_usd.deal_id, "50.00", currency="USD")
    payout = kit.payout_paid(a, "70.00", dt.date(2026, 10, 20))
    outside = kit.rebate(a, None, "5.00", at=dt.datetime(2026, 12, 5, tzinfo=dt.UTC))
    first, second = kit.certified(a, dt.date(2026, 9, 10)), kit.certified(a, dt.date(2026, 11,
                                                                                      20))
    stream = [mdf.submitted(), mdf.approved(), mdf.claim_approved("300.00"), rebate, spiff,
              payout, outside, first, second]
    await apply(*stream)
    await apply(*stream)  # redelivered: nothing counted twice
    totals = [await _figure(client, vendor, "total_pipeline", "2026-09-01", "2026-10-01",
                            "10000.00"),
              await _figure(client, vendor, "total_pipeline", "2026-10-01", "2026-11-01",
                            "10000.00")]
    # A total outside the period is not used; a second total of one period is refused.
    await _figure(client, vendor, "total_pipeline", "2026-12-01", "2027-01-01", "99.00")
    again = await client.post("/v1/attribution-vendor-figures", headers=vendor, json={
        "kind": "total_pipeline", "period_from": "2026-09-01", "period_to": "2026-10-01",
        "amount": _eur("1.00")})
    assert again.status_code == 409

    rows = (await client.get(f"/v1/attribution-kpis?{PERIOD}&partner_id={a}",
                             headers=vendor)).json()["items"]
    [row] = rows
    # Linear: A alone on the EUR deal (1000.00); half of the USD deal, 100.00 USD at 0.9.
    assert row["sourced_revenue"] == _eur("1090.00")
    assert row["sourced_pipeline"] == _eur("500.00")
    # Costs: MDF 300.00, rebate 20.00, SPIFF 50.00 USD = 45.00 EUR; the December rebate is
    # outside the period; the payout is the cash side, not added.
    assert row["programme_cost_by_kind"] == {"mdf": _eur("300.00"), "rebate": _eur("20.00"),
                                             "spiff": _eur("45.00")}
    assert row["programme_cost"] == _eur("365.00")
    assert row["payouts_paid"] == _eur("70.00")
    assert row["ropi"] == "2.9863"  # 1090 / 365 = 2.98630...
    # 500.00 of the vendor's 20000.00 pipeline created in the period.
    assert row["pipeline_contribution"] == "0.0250"
    assert sorted(row["vendor_figure_ids"]) == sorted(totals)
    assert row["certifications_earned"] == 2
    assert row["days_to_first_certification"] == 19  # 22 Aug -> 10 Sep
    costs = {r.id for r in await client.connection.execute(text(
        "SELECT id FROM programme_costs WHERE partner_id = :p AND incurred_on < '2026-12-01'"),
        {"p": a})}
    assert set(row["cost_ids"]) == {str(c) for c in costs} and len(costs) == 3
    assert len(row["payout_batch_ids"]) == 1 and len(row["certification_ids"]) == 2
    assert row["fx_rates_used"] == [{"currency": "USD", "rate": "0.9000000000",
                                     "valid_on": "2026-01-01"}]
    [other] = (await client.get(f"/v1/attribution-kpis?{PERIOD}&partner_id={b}",
                                headers=vendor)).json()["items"]
    assert other["influenced_revenue"] == _eur("90.00")
    assert other["programme_cost"] == _eur("0.00") and other["ropi"] is None
    assert other["pipeline_contribution"] == "0.0000"
    # A part of the vendor's total without a rate: no contribution rather than a wrong one.
    gbp = await client.post("/v1/attribution-vendor-figures", headers=vendor, json={
        "kind": "total_pipeline", "period_from": "2026-11-01", "period_to": "2026-12-01",
        "amount": {"amount": "500.00", "currency": "GBP"}})
    assert gbp.status_code == 201, gbp.text
    [row] = (await client.get(f"/v1/attribution-kpis?{PERIOD}&partner_id={a}",
                              headers=vendor)).json()["items"]
    assert row["pipeline_contribution"] is None
    assert gbp.json()["id"] in row["unconverted_cost_ids"]


async def test_mdf_roi_per_activity_and_per_activity_type(client, apply, vendor, as_partner,
                                                          kit):
    T0, DealStory = kit.T0, kit.DealStory
    a, b = uuid.uuid4(), uuid.uuid4()
    kind = f"event-{a.hex[:6]}"
    m1, m2 = kit.MdfStory(a, activity_type=kind), kit.MdfStory(a, activity_type=f"web-{kind}")
    m3 = kit.MdfStory(a, activity_type=kind)
    big, small = DealStory(a, amount="1200.00"), DealStory(a, amount="100.00")
    await apply(kit.partner_created(a), kit.partner_created(b),
                *(e for m in (m1, m2, m3) for e in (m.submitted(), m.approved())),
                m1.claim_approved("400.00"), m2.claim_approved("100.00"),
                *(e for d in (big, small) for e in (d.registered(), d.approved())))
    own = as_partner(a)
    linked = [
        await _touch(client, own, deal_id=str(big.deal_id), kind="co_sell",
                     mdf_request_id=str(m1.request_id),
                     occurred_at=(T0 + dt.timedelta(days=2)).isoformat()),
        await _touch(client, vendor, partner_id=str(a), deal_id=str(big.deal_id),
                     kind="marketing", mdf_request_id=str(m2.request_id),
                     occurred_at=(T0 + dt.timedelta(days=3)).isoformat()),
        await _touch(client, own, deal_id=str(small.deal_id), kind="marketing",
                     mdf_request_id=str(m1.request_id),
                     occurred_at=(T0 + dt.timedelta(days=2)).isoformat())]
    await _touch(client, vendor, partner_id=str(b), deal_id=str(small.deal_id),
                 kind="consulting", occurred_at=(T0 + dt.timedelta(days=4)).isoformat())
    # A vendor cannot link a touch of B to A's activity.
    wrong = await client.post("/v1/touchpoints", headers=vendor, json={
        "partner_id": str(b), "deal_id": str(small.deal_id), "kind": "marketing",
        "mdf_request_id": str(m1.request_id), "occurred_at": T0.isoformat(),
        "evidence": {"description": "x"}})
    assert wrong.status_code == 422
    await apply(big.won(), small.won())

    page = (await client.get(f"/v1/attribution-kpis/mdf-activities?{PERIOD}&partner_id={a}",
                             headers=vendor)).json()
    found = {r["request_id"]: r for r in page["items"]}
    assert set(found) == {str(m.request_id) for m in (m1, m2, m3)}
    # The big deal: A alone, 1200.00, three touches of A (registration, M1, M2): 400.00 each.
    # The small deal, linear over A's two touches and B's one: A 66.67 (6666.67 rounded up
    # by the largest remainder), half of it M1's: 33.335.
    # M1: 400.00 + 33.335 = 433.335 -> 433.34 (half-even on 43333.5 minor units); ROI
    # (433.335 - 400) / 400 = 0.0833375 -> 0.0833.
    one = found[str(m1.request_id)]
    assert one["cost"] == _eur("400.00") and one["revenue"] == _eur("433.34")
    assert one["roi"] == "0.0833"
    assert set(one["deal_ids"]) == {str(big.deal_id), str(small.deal_id)}
    assert set(one["touchpoint_ids"]) == {linked[0]["id"], linked[2]["id"]}
    two = found[str(m2.request_id)]
    assert (two["cost"], two["revenue"], two["roi"]) == (_eur("100.00"), _eur("400.00"),
                                                        "3.0000")
    three = found[str(m3.request_id)]
    assert (three["cost"], three["revenue"], three["roi"]) == (_eur("0.00"), _eur("0.00"),
                                                              None)
    types = (await client.get(f"/v1/attribution-kpis/mdf-activity-types?{PERIOD}",
                              headers=own)).json()["items"]
    by_type = {t["activity_type"]: t for t in types}
    assert by_type[kind]["activities"] == 2
    assert (by_type[kind]["cost"], by_type[kind]["revenue"], by_type[kind]["roi"]) == (
        _eur("400.00"), _eur("433.34"), "0.0833")
    assert by_type[f"web-{kind}"]["roi"] == "3.0000"


async def test_cltv_acquisition_cost_and_cohorts_by_partner_type(client, apply, vendor, kit):
    DealStory = kit.DealStory
    day = lambda m, d: dt.datetime(2026, m, d, 9, tzinfo=dt.UTC)  # noqa: E731
    msp, si = f"msp-{uuid.uuid4().hex[:6]}", f"si-{uuid.uuid4().hex[:6]}"
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(kit.partner_created(a, type_=msp, at=day(9, 1), status="onboarding"),
                kit.partner_activated(a, type_=msp, at=day(9, 5)),
                kit.partner_created(b, type_=si, at=day(9, 1), status="onboarding"),
                kit.partner_activated(b, type_=si, at=day(9, 10)),
                kit.onboarded(b, day(9, 8)), kit.onboarded(b, day(9, 9)),
                kit.partner_created(c, type_=msp, at=day(6, 1), status="onboarding"),
                kit.partner_activated(c, type_=msp, at=day(6, 2)),
                kit.certified(a, dt.date(2026, 9, 11)), kit.certified(b, dt.date(2026, 9, 21)),
                kit.certified(c, dt.date(2026, 10, 1)))
    acme = f"acme-{uuid.uuid4().hex[:6]}.example"
    deals = [  # (deal, registered, closed)
        (DealStory(a, "1000.00", domain=acme), day(9, 2), dt.date(2026, 9, 20)),
        (DealStory(c, "500.00", domain=acme, deal_type="renewal"), day(10, 1),
         dt.date(2026, 10, 20)),
        (DealStory(a, "300.00", domain=acme, deal_type="upsell"), day(10, 2),
         dt.date(2026, 11, 5)),
        (DealStory(a, "100.01"), day(10, 3), dt.date(2026, 11, 10)),
        (DealStory(b, "2000.00"), day(9, 12), dt.date(2026, 10, 1)),
    ]
    initech = f"initech-{uuid.uuid4().hex[:6]}.example"
    deals += [(DealStory(c, "700.00", domain=initech), day(8, 1), dt.date(2026, 8, 15)),
              (DealStory(c, "100.00", domain=initech, deal_type="renewal"), day(9, 2),
               dt.date(2026, 10, 10))]
    for deal, registered, closed in deals:
        await apply(deal.registered(at=registered), deal.approved(at=registered),
                    deal.won(closed_on=closed, at=registered + dt.timedelta(days=1)))
    await apply(kit.rebate(a, deals[0][0].deal_id, "10.00"))
    await _figure(client, vendor, "acquisition_cost", "2026-09-01", "2026-10-01", "3000.00",
                  partner_type=msp)
    await _figure(client, vendor, "acquisition_cost", "2026-10-01", "2026-11-01", "1500.00")
    await _figure(client, vendor, "acquisition_cost", "2026-12-01", "2027-01-01", "999.00")

    groups = {g["group"]: g for g in (await client.get(
        f"/v1/attribution-kpis/programme?{PERIOD}&group_by=partner_type",
        headers=vendor)).json()["items"]}
    m, s = groups[msp], groups[si]
    # acme: acquired by A (msp) on 20 Sep; its lifetime: 1000 + 500 (renewal, by C) + 300
    # (upsell); the customer of the 100.01 deal, acquired by A on 10 Nov. CLTV = 1900.01 / 2
    # = 950.005 -> 950.00 (half-even on 95000.5 minor units). initech was acquired in August.
    assert m["customers_acquired"] == 2
    assert m["customer_lifetime_revenue"] == _eur("1900.01")
    assert m["repeat_revenue"] == _eur("800.00")
    assert m["cltv"] == _eur("950.00")
    assert (s["customers_acquired"], s["cltv"]) == (1, _eur("2000.00"))
    # A activated in the period (C in June): the msp line 3000.00 over one partner.
    assert (m["partners_activated"], m["acquisition_cost"]) == (1, _eur("3000.00"))
    assert m["partner_acquisition_cost"] == _eur("3000.00")
    assert m["activated_partner_ids"] == [str(a)]
    assert (s["acquisition_cost"], s["partner_acquisition_cost"]) == (_eur("0.00"),
                                                                      _eur("0.00"))
    # Revenue won in the period: 1000 + 500 + 300 + 100.01 + 100 (msp); cost: the rebate.
    assert m["revenue"] == _eur("2000.01") and m["ropi"] == "200.0010"
    assert s["revenue"] == _eur("2000.00") and s["ropi"] is None
    # Cohort: A joined on 1 Sep, certified on 11 Sep, first win 20 Sep; C joined in June.
    assert (m["cohort_partners"], m["certifications_earned"]) == (1, 2)
    assert m["days_to_first_certification_mean"] == "10.00"
    assert m["time_to_first_deal_days_mean"] == "19.00"
    assert s["days_to_first_certification_mean"] == "20.00"
    # Time to first value: A from its activation (5 Sep, no onboarding plan) to 20 Sep; B from
    # its onboarding's completion (8 Sep; the later duplicate is ignored) to 1 Oct.
    assert m["time_to_first_value_days_mean"] == "15.00"
    assert s["time_to_first_value_days_mean"] == "23.00"
    [row] = (await client.get(f"/v1/attribution-kpis?{PERIOD}&partner_id={b}",
                              headers=vendor)).json()["items"]
    assert (row["time_to_first_value_days"], row["time_to_first_deal_days"]) == (23, 30)

    [whole] = (await client.get(f"/v1/attribution-kpis/programme?{PERIOD}",
                                headers=vendor)).json()["items"]
    assert whole["group"] == "programme"
    # 3 customers, 3900.01: 1300.003... -> 1300.00; 4500.00 of lines over A and B.
    assert whole["customers_acquired"] == 3 and whole["cltv"] == _eur("1300.00")
    assert whole["partners_activated"] == 2
    assert whole["partner_acquisition_cost"] == _eur("2250.00")
    assert whole["days_to_first_certification_mean"] == "15.00"
    assert whole["time_to_first_deal_days_mean"] == "24.50"  # (19 + 30) / 2
    assert whole["time_to_first_value_days_mean"] == "19.00"  # (15 + 23) / 2
    assert whole["revenue"] == _eur("4000.01")
    assert whole["vendor_total_pipeline"] is None and whole["pipeline_contribution"] is None


async def test_costs_projection_is_replay_safe_and_nets_reversals(apply, client, vendor,
                                                                  kit):
    a = uuid.uuid4()
    activity = kit.MdfStory(a, activity_type="webinar")
    submitted, approved = activity.submitted(), activity.approved()
    await apply(approved, submitted)  # out of order: the type survives, the status is newest
    row = (await client.connection.execute(text(
        "SELECT activity_type, status, version FROM mdf_activities WHERE request_id = :r"),
        {"r": activity.request_id})).one()
    assert tuple(row) == ("webinar", "approved", 2)
    kept = kit.rebate(a, uuid.uuid4(), "30.00", at=dt.datetime(2026, 10, 2, tzinfo=dt.UTC))
    undone = kit.rebate(a, uuid.uuid4(), "20.00", at=dt.datetime(2026, 10, 16, tzinfo=dt.UTC))
    # Reversed in December: the October accrual never was a cost, so October is restated.
    reversal = kit.rebate_reversed(undone, at=dt.datetime(2026, 12, 10, tzinfo=dt.UTC))
    await apply(kept, undone, reversal, reversal, undone)
    rows = sorted((r.amount_minor, str(r.incurred_on)) for r in await client.connection.execute(
        text("SELECT amount_minor, incurred_on FROM programme_costs WHERE partner_id = :p"),
        {"p": a}))
    assert rows == [(-2000, "2026-10-16"), (2000, "2026-10-16"), (3000, "2026-10-02")]
    [row] = (await client.get(f"/v1/attribution-kpis?{PERIOD}&partner_id={a}",
                              headers=vendor)).json()["items"]
    # 30.00 + 20.00 - 20.00.
    assert row["programme_cost_by_kind"]["rebate"] == _eur("30.00")
    assert row["programme_cost"] == _eur("30.00") and len(row["cost_ids"]) == 3
    # Both reversed: nothing left, and no ROPI. A true-up taking money back has no accrual
    # here, so it is dated by its event and the period nets below zero.
    takeback = kit.rebate_reversed(kit.rebate(a, None, "5.00"),
                                   at=dt.datetime(2026, 11, 15, tzinfo=dt.UTC))
    await apply(kit.rebate_reversed(kept, at=dt.datetime(2026, 12, 10, tzinfo=dt.UTC)))
    [row] = (await client.get(f"/v1/attribution-kpis?{PERIOD}&partner_id={a}",
                              headers=vendor)).json()["items"]
    assert row["programme_cost"] == _eur("0.00") and row["ropi"] is None
    await apply(takeback)
    [row] = (await client.get(f"/v1/attribution-kpis?{PERIOD}&partner_id={a}",
                              headers=vendor)).json()["items"]
    assert row["programme_cost"] == _eur("-5.00") and row["ropi"] is None


async def test_the_scheduled_recompute_follows_the_history_once(app, client, apply, vendor,
                                                               kit):
    T0, DealStory = kit.T0, kit.DealStory
    a, b = uuid.uuid4(), uuid.uuid4()
    today = dt.date(2026, 11, 1)
    target = DealStory(a)
    await apply(target.registered(), target.approved())
    await _touch(client, vendor, partner_id=str(b), deal_id=str(target.deal_id),
                 kind="co_sell", occurred_at=(T0 + dt.timedelta(days=1)).isoformat())

    async def shares(model):
        return {r.partner_id: r.share for r in await client.connection.execute(text(
            "SELECT partner_id, share FROM attribution_credits WHERE deal_id = :d "
            "AND model = :m"), {"d": target.deal_id, "m": model})}

    # No history yet: both data-driven models split evenly.
    assert await shares("shapley") == await shares("markov") == {a: "1/2", b: "1/2"}
    published = len(list(await client.connection.execute(text(
        "SELECT 1 FROM outbox WHERE key = :k"), {"k": str(target.deal_id)})))
    # Then deals close: a alone, won; a then b, won. The target is not touched by them.
    alone, both = DealStory(a), DealStory(a)
    await apply(*(e for d in (alone, both) for e in (d.registered(), d.approved())))
    await _touch(client, vendor, partner_id=str(b), deal_id=str(both.deal_id),
                 kind="co_sell", occurred_at=(T0 + dt.timedelta(days=2)).isoformat())
    await apply(alone.won(), both.won())
    assert await shares("shapley") == {a: "1/2", b: "1/2"}

    async def run():
        async with app.state.sessionmaker() as session:
            done = await recompute_datadriven(session, batch=10_000, today=today)
            await session.commit()
            return done

    assert await run() >= 3  # the target and the two won deals, at least
    # Shapley: v(a) = 1, v(b) = 0, v(ab) = 2 -> a (1 + 2) / 2 = 3/2, b (0 + 1) / 2 = 1/2.
    assert await shares("shapley") == {a: "3/4", b: "1/4"}
    # Markov: start -> a (2), a -> conv, a -> b, b -> conv: P = 1; without a 0 (effect 1),
    # without b 1/2 (effect 1/2): a 2/3, b 1/3.
    assert await shares("markov") == {a: "2/3", b: "1/3"}
    events = len(list(await client.connection.execute(text(
        "SELECT 1 FROM outbox WHERE key = :k"), {"k": str(target.deal_id)})))
    assert events == published + 1  # the change was published, once
    run_row = (await client.connection.execute(text(
        "SELECT rules_version, history_deals, completed_at FROM datadriven_runs "
        "ORDER BY history_version DESC LIMIT 1"))).one()
    assert run_row.rules_version == 2 and run_row.completed_at is not None
    assert run_row.history_deals >= 2
    # The same history again: nothing to do, nothing published.
    assert await run() == 0
    assert len(list(await client.connection.execute(text(
        "SELECT 1 FROM outbox WHERE key = :k"), {"k": str(target.deal_id)}))) == events


@given(st.integers(-10**12, 10**12), st.integers(1, 10**6))
def test_round_half_even_is_the_nearest_integer(numerator, denominator):
    value = Fraction(numerator, denominator)
    rounded = round_half_even(value)
    assert abs(value - rounded) <= Fraction(1, 2)
    if abs(value - rounded) == Fraction(1, 2):
        assert rounded % 2 == 0
    assert rounded == round(value)  # Python's round() on a Fraction is half-even too


def test_ratios_are_exact_to_four_places():
    assert ratio(1090_00, 365_00) == "2.9863"
    assert ratio(1, 8) == "0.1250" and ratio(1, 80000) == "0.0000"
    assert ratio(3, 20000) == "0.0002"  # 0.00015: half to even
    assert ratio(5, 0) is None


async def test_a_reversed_win_leaves_the_revenue(client, apply, vendor, kit):
    from prm_events.envelope import CloudEvent
    from prm_platform.ids import new_id

    a = uuid.uuid4()
    deal = kit.DealStory(a, amount="700.00")
    await apply(deal.registered(), deal.approved(), deal.won())
    url = f"/v1/attribution-kpis?{PERIOD}&partner_id={a}"
    [row] = (await client.get(url, headers=vendor)).json()["items"]
    assert row["sourced_revenue"] == _eur("700.00")
    reversed_win = CloudEvent(
        id=new_id(), source="/prm/deals", type="prm.deal.win_reversed.v1",
        subject=str(deal.deal_id), time=kit.T0 + dt.timedelta(days=50),
        data={"deal_id": str(deal.deal_id), "partner_id": str(a), "status": "win_reversed",
              "version": 4, "reason": "Booking cancelled",
              "amount": {"amount": "700.00", "currency": "EUR"}, "closed_on": "2026-10-15"})
    await apply(reversed_win, deal.won())  # the older win redelivered changes nothing
    [row] = (await client.get(url, headers=vendor)).json()["items"]
    assert row["sourced_revenue"] == _eur("0.00") and row["deal_ids"] == []
    assert row["registrations_decided"] == 1 and row["registrations_won"] == 0
    explained = await client.get(f"/v1/attributed-deals/{deal.deal_id}/explanation",
                                 headers=vendor)
    assert explained.json()["status"] == "win_reversed"


async def test_a_new_rules_version_recomputes_the_data_driven_credits_and_keeps_the_old(
        app, client, apply, vendor, kit):
    """The upgrade path: credits computed under a deal-projected version, then the next version
    with the full-history game; the scheduled recompute brings the deal to it and the old
    version's credits stay as they were."""
    T0, DealStory = kit.T0, kit.DealStory
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def publish(rules):
        current = await client.get("/v1/attribution-rules/current", headers=vendor)
        published = await client.post("/v1/attribution-rules", json={"rules": rules},
                                      headers={**vendor, "If-Match": current.headers["ETag"]})
        assert published.status_code == 201, published.text
        return published.json()["version"]

    old = await publish({"markov_chain": "deal", "shapley_game": "deal"})
    # History: a won with b; c won alone. The target is a's, touched by c.
    shared, alone, target = DealStory(a), DealStory(c), DealStory(a)
    await apply(*(e for d in (shared, alone, target) for e in (d.registered(), d.approved())))
    await _touch(client, vendor, partner_id=str(b), deal_id=str(shared.deal_id),
                 kind="co_sell", occurred_at=(T0 + dt.timedelta(days=1)).isoformat())
    await _touch(client, vendor, partner_id=str(c), deal_id=str(target.deal_id),
                 kind="co_sell", occurred_at=(T0 + dt.timedelta(days=1)).isoformat())
    await apply(shared.won(), alone.won())

    async def shapley(version):
        return {r.partner_id: r.share for r in await client.connection.execute(text(
            "SELECT partner_id, share FROM attribution_credits WHERE deal_id = :d "
            "AND model = 'shapley' AND rules_version = :v"),
            {"d": target.deal_id, "v": version})}

    async def run():
        async with app.state.sessionmaker() as session:
            done = await recompute_datadriven(session, batch=10_000, today=dt.date(2026, 11, 1))
            await session.commit()
            return done

    await run()
    # Projected onto {a, c}: the won deals are {a} and {c}: 1 each.
    assert await shapley(old) == {a: "1/2", c: "1/2"}
    new = await publish({"markov_chain": "full", "shapley_game": "history"})
    assert await shapley(new) == {}  # nothing rewritten until recomputed
    assert await run() >= 1
    # The whole history: a 1/2 (shared with b), c 1.
    assert await shapley(new) == {a: "1/3", c: "2/3"}
    assert await shapley(old) == {a: "1/2", c: "1/2"}


async def test_a_history_read_once_gives_what_each_deal_reads_itself(app, client, apply, vendor,
                                                                    kit):
    T0, DealStory = kit.T0, kit.DealStory
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    targets = [DealStory(a), DealStory(b)]
    closed = [DealStory(a), DealStory(b), DealStory(a)]
    await apply(*(e for d in targets + closed for e in (d.registered(), d.approved())))
    for day, (partner, deal) in enumerate([(b, targets[0]), (c, targets[1]), (b, closed[0]),
                                           (c, closed[1]), (a, closed[1])], start=1):
        await _touch(client, vendor, partner_id=str(partner), deal_id=str(deal.deal_id),
                     kind="co_sell", occurred_at=(T0 + dt.timedelta(days=day)).isoformat())
    await apply(closed[0].won(), closed[1].won(), closed[2].lost())
    async with app.state.sessionmaker() as session:
        history = await read_history(session)
        assert sorted(j.won for j in history.journeys) == [False, True, True]
        # Computed from the history given, then each deal reading its own: nothing to change.
        assert [await recompute(session, d.deal_id, history=history) for d in targets] == [
            True, True]
        assert [await recompute(session, d.deal_id) for d in targets] == [False, False]
        # And a different history does give different credits (the parameter is used).
        assert await recompute(session, targets[0].deal_id, history=History([])) is True
        assert await recompute(session, targets[0].deal_id) is True
        await session.rollback()


async def _rates(client) -> list[tuple]:
    return [tuple(r) for r in await client.connection.execute(text(
        "SELECT currency, base_currency, valid_on, rate::text FROM fx_rates "
        "ORDER BY currency, base_currency, valid_on"))]


async def test_the_fx_rates_are_a_projection_of_the_ledgers(client, apply, vendor, kit):
    """The incentives ledger owns the FX rates: its events fill the projection the KPIs convert
    with; a redelivery changes nothing, a rate entered here before gives way to the ledger's,
    a broken event is refused and nothing records a rate here any more."""
    day = dt.date(2026, 1, 1)
    first = kit.rate_set("USD", "EUR", "0.9", day)
    await apply(first, first)
    assert await _rates(client) == [("USD", "EUR", day, "0.9000000000")]
    await apply(kit.rate_set("USD", "EUR", "0.91", day))
    assert await _rates(client) == [("USD", "EUR", day, "0.9100000000")]
    for base, quote, rate in (("USD", "EUR", "0"), ("USD", "EUR", "-2"), ("USD", "EUR", "NaN"),
                              ("XXX", "EUR", "1.5"), ("USD", "ZZZ", "1.5"),
                              ("EUR", "EUR", "1")):
        with pytest.raises(ValueError):
            await apply(kit.rate_set(base, quote, rate, dt.date(2026, 2, 1)))
    assert await _rates(client) == [("USD", "EUR", day, "0.9100000000")]
    gone = await client.post("/v1/attribution-fx-rates", headers=vendor, json={
        "currency": "USD", "rate": "0.9", "valid_on": "2026-01-01"})
    assert gone.status_code == 404
