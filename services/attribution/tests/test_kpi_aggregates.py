"""The credit KPIs read from the counted credits (migration 0009) equal, to the minor unit, a
full recomputation from the raw credits, results, deals and rates, whatever the order of the
writes: credits and results of several rules versions written, changed and removed (also in
one statement, as the recompute writes them), deals changing status and dates or removed, rates
arriving before or after the credits they convert. The recomputation here applies the
documented rule (``kpis.figures``): a partner's credits of one figure, currency and rate summed,
then converted and rounded half-even once."""

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prm_attribution.kpis.figures import MAX_IDS
from prm_attribution.kpis.service import partner_figures
from prm_attribution.results.service import OPEN_STATUSES
from prm_platform.money import convert_minor
from prm_stack.testing import rolled_back_sessions

BASE = "EUR"
DAY0 = dt.date(2026, 1, 1)
MODELS = ("linear", "first_touch")
STATUSES = (*OPEN_STATUSES, "won", "lost", "rejected", "expired", "win_reversed")
FIGURES = ("sourced_revenue", "influenced_revenue", "sourced_pipeline", "influenced_pipeline")
# Partners and deals are drawn by index; their ids are fixed per example.
PARTNERS, DEALS = 3, 3

_deal = st.integers(0, DEALS - 1)
_version = st.integers(1, 2)
_model = st.sampled_from(MODELS)
_partner = st.integers(0, PARTNERS - 1)
_minor = st.one_of(st.just(0), st.integers(1, 10**9))
_day = st.integers(0, 60)
_credits = st.lists(st.tuples(_partner, st.sampled_from(("sourced", "influenced")), _minor),
                    min_size=1, max_size=PARTNERS, unique_by=lambda c: c[0])
# The deal projection: the deal upserted with a status, a registration and a close.
_deal_state = st.tuples(st.just("deal"), _deal, st.sampled_from(STATUSES), _day,
                        st.integers(0, 86_399), st.one_of(st.none(), _day))
# A recompute's write: a model's result and credits of a rules version, one statement.
_currency = st.sampled_from((BASE, "USD", "JPY"))
_write = st.tuples(st.just("write"), _deal, _version, _model, _currency, _credits)
_rate = st.tuples(st.just("rate"), st.sampled_from(("USD", "GBP", "JPY")), _day,
                 st.sampled_from((Decimal("0.9240"), Decimal("1.1650"), Decimal("0.0061234"),
                                  Decimal("1.3333333333"), Decimal("0.5"))))
_event = st.one_of(
    _deal_state, _deal_state, _write, _write, _write, _rate,
    st.tuples(st.just("drop_result"), _deal, _version, _model),
    # A result alone: written without credits, or its currency changed.
    st.tuples(st.just("result"), _deal, _version, _model, _currency),
    st.tuples(st.just("result"), _deal, st.just(2), _model, _currency),
    st.tuples(st.just("currency"), _deal, _version, _model, _currency),
    st.tuples(st.just("drop_credit"), _deal, _version, _model, _partner),
    st.tuples(st.just("set_credit"), _deal, _version, _model, _partner, _minor),
    st.tuples(st.just("drop_deal"), _deal),
)
_period = st.tuples(st.integers(0, 40), st.integers(1, 62))

_WRITE = text("""
    WITH gone AS (
        DELETE FROM attribution_credits WHERE deal_id = :deal AND rules_version = :v
        AND model = :model AND NOT (partner_id = ANY(CAST(:partners AS uuid[])))),
    result AS (
        INSERT INTO attribution_results (deal_id, rules_version, model, basis, amount_minor,
            currency, details, computed_at)
        VALUES (:deal, :v, :model, 'won', 0, :currency, '{}', now())
        ON CONFLICT (deal_id, rules_version, model) DO UPDATE SET currency = EXCLUDED.currency),
    credits AS (
        INSERT INTO attribution_credits (deal_id, rules_version, model, partner_id, role, share,
            credit_minor)
        SELECT :deal, :v, :model, w.partner, w.role, '1/1', w.credit
        FROM unnest(CAST(:partners AS uuid[]), CAST(:roles AS text[]),
                    CAST(:credits AS bigint[])) AS w(partner, role, credit)
        ON CONFLICT (deal_id, rules_version, model, partner_id) DO UPDATE SET
            role = EXCLUDED.role, credit_minor = EXCLUDED.credit_minor)
    UPDATE deals SET attribution_revision = attribution_revision + 1 WHERE deal_id = :deal
""")
_DEAL = text("""
    INSERT INTO deals (deal_id, partner_id, status, approved, version, attribution_revision,
        updated_at, registered_at, closed_on, amount, currency)
    VALUES (:deal, :partner, :status, true, 1, 0, now(), :registered_at, :closed_on, 100, 'EUR')
    ON CONFLICT (deal_id) DO UPDATE SET status = EXCLUDED.status,
        registered_at = EXCLUDED.registered_at, closed_on = EXCLUDED.closed_on
""")


async def _apply(session, event, deals, partners) -> None:
    kind, *rest = event
    if kind == "deal":
        d, status, day, second, closed = rest
        await session.execute(_DEAL, {
            "deal": deals[d], "partner": partners[0], "status": status,
            "registered_at": dt.datetime.combine(DAY0, dt.time(), tzinfo=dt.UTC)
            + dt.timedelta(days=day, seconds=second),
            "closed_on": None if closed is None else DAY0 + dt.timedelta(days=closed)})
    elif kind == "write":
        d, v, model, currency, credits = rest
        await session.execute(_WRITE, {
            "deal": deals[d], "v": v, "model": model, "currency": currency,
            "partners": [partners[p] for p, _, _ in credits],
            "roles": [role for _, role, _ in credits],
            "credits": [minor for _, _, minor in credits]})
    elif kind in ("result", "currency"):
        d, v, model, currency = rest
        await session.execute(text(
            "INSERT INTO attribution_results (deal_id, rules_version, model, basis, "
            "amount_minor, currency, details, computed_at) VALUES (:deal, :v, :model, 'won', "
            "0, :currency, '{}', now()) ON CONFLICT (deal_id, rules_version, model) "
            "DO UPDATE SET currency = EXCLUDED.currency" if kind == "result" else
            "UPDATE attribution_results SET currency = :currency WHERE deal_id = :deal "
            "AND rules_version = :v AND model = :model"),
            {"deal": deals[d], "v": v, "model": model, "currency": currency})
    elif kind == "drop_result":
        d, v, model = rest
        await session.execute(text(
            "DELETE FROM attribution_results WHERE deal_id = :deal AND rules_version = :v "
            "AND model = :model"), {"deal": deals[d], "v": v, "model": model})
    elif kind in ("drop_credit", "set_credit"):
        d, v, model, p, *minor = rest
        statement = ("DELETE FROM attribution_credits" if kind == "drop_credit" else
                     "UPDATE attribution_credits SET credit_minor = :minor")
        await session.execute(text(
            f"{statement} WHERE deal_id = :deal AND rules_version = :v AND model = :model "
            "AND partner_id = :partner"), {"deal": deals[d], "v": v, "model": model,
                                           "partner": partners[p], "minor": (minor or [0])[0]})
    elif kind == "drop_deal":
        await session.execute(text("DELETE FROM deals WHERE deal_id = :deal"),
                              {"deal": deals[rest[0]]})
    else:
        currency, day, rate = rest
        await session.execute(text(
            "INSERT INTO fx_rates (id, currency, base_currency, rate, valid_on, recorded_at) "
            "VALUES (:id, :currency, :base, :rate, :on, now()) ON CONFLICT "
            "(currency, base_currency, valid_on) DO UPDATE SET rate = EXCLUDED.rate"),
            {"id": uuid.uuid4(), "currency": currency, "base": BASE, "rate": rate,
             "on": DAY0 + dt.timedelta(days=day)})


async def _recomputed(session, partners, start, end, model):
    """Each partner's figures straight from the credits, results, deals and rates: sums per
    figure, converted deal ids, unconverted deal ids, rates used."""
    deals = {r.deal_id: r for r in await session.execute(text(
        "SELECT deal_id, status, closed_on, registered_at FROM deals"))}
    currencies = {(r.deal_id, r.rules_version): r.currency for r in await session.execute(
        text("SELECT deal_id, rules_version, currency FROM attribution_results "
             "WHERE model = :model"), {"model": model})}
    newest: dict[uuid.UUID, int] = {}
    for deal, version in currencies:
        newest[deal] = max(newest.get(deal, version), version)
    rates = list(await session.execute(text(
        "SELECT currency, rate, valid_on FROM fx_rates WHERE base_currency = :base "
        "ORDER BY valid_on"), {"base": BASE}))
    groups: dict[tuple, int] = {}
    found = {p: SimpleNamespace(sums=dict.fromkeys(FIGURES, 0), deal_ids=set(),
                                unconverted=set(), used=set()) for p in partners}
    for c in await session.execute(text(
            "SELECT deal_id, rules_version, partner_id, role, credit_minor "
            "FROM attribution_credits WHERE model = :model"), {"model": model}):
        deal = deals.get(c.deal_id)
        if deal is None or newest.get(c.deal_id) != c.rules_version:
            continue
        if deal.status == "won" and deal.closed_on is not None:
            figure, day = f"{c.role}_revenue", deal.closed_on
        elif deal.status in OPEN_STATUSES and deal.registered_at is not None:
            figure, day = f"{c.role}_pipeline", deal.registered_at.astimezone(dt.UTC).date()
        else:
            continue
        if not start <= day < end or c.partner_id not in found:
            continue
        currency = currencies[c.deal_id, c.rules_version]
        partner = found[c.partner_id]
        valid = [r for r in rates if r.currency == currency and r.valid_on <= day]
        if currency != BASE and not valid:
            partner.unconverted.add(c.deal_id)
            continue
        rate = valid[-1] if currency != BASE else None
        key = (c.partner_id, figure, currency, rate)
        groups[key] = groups.get(key, 0) + c.credit_minor
        partner.deal_ids.add(c.deal_id)
    for (partner_id, figure, currency, rate), minor in groups.items():
        partner = found[partner_id]
        if rate is None:
            partner.sums[figure] += minor
        else:
            partner.sums[figure] += convert_minor(minor, currency, BASE, rate.rate)
            partner.used.add((currency, rate.valid_on))
    return found


async def _counted(session) -> list:
    return list(await session.execute(text(
        "SELECT deal_id, model, partner_id, rules_version, figure, currency, day, "
        "credit_minor "
        "FROM attribution_kpi_credits ORDER BY deal_id, model, partner_id")))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(initial=st.tuples(*(st.tuples(
           st.tuples(st.sampled_from(STATUSES), _day, st.integers(0, 86_399),
                     st.one_of(st.none(), _day)),
           _currency, _credits) for _ in range(DEALS))),
       rates=st.lists(_rate, max_size=4), events=st.lists(_event, min_size=1, max_size=20),
       checks=st.lists(st.tuples(_period, _model), min_size=1, max_size=3))
async def test_the_credit_kpis_equal_a_full_recomputation(engine, initial, rates, events,
                                                          checks):
    # Every deal starts registered, with credits of rules version 1 under both models.
    events = rates + [e for d, (state, currency, credits) in enumerate(initial) for e in (
        ("deal", d, *state), *(("write", d, 1, model, currency, credits) for model in MODELS))
    ] + events
    partners = [uuid.uuid4() for _ in range(PARTNERS)]
    deals = [uuid.uuid4() for _ in range(DEALS)]
    rows = [SimpleNamespace(partner_id=p, name=None, type=None, tier=None, country=None,
                            joined_at=None, activated_at=None, onboarding_completed_at=None)
            for p in partners]
    async with rolled_back_sessions(engine) as (_, sessionmaker), sessionmaker() as session:
        for i, event in enumerate(events):
            await _apply(session, event, deals, partners)
            # Checked midway and at the end: rates may come before or after the credits.
            if i not in (len(events) // 2, len(events) - 1):
                continue
            for (first, days), model in checks:
                start = DAY0 + dt.timedelta(days=first)
                end = start + dt.timedelta(days=days)
                expected = await _recomputed(session, partners, start, end, model)
                for figures in await partner_figures(session, rows, base=BASE, start=start,
                                                     end=end, model=model):
                    wanted = expected[figures.partner_id]
                    assert figures.sums == wanted.sums, (event, start, end, model)
                    assert figures.deal_ids == sorted(wanted.deal_ids)[:MAX_IDS]
                    assert figures.unconverted_deal_ids == sorted(wanted.unconverted)[:MAX_IDS]
                    assert set(figures.converter.used) == wanted.used
        # What the triggers kept is what a rebuild from scratch gives.
        kept = await _counted(session)
        await session.execute(text("SELECT attribution_kpi_rebuild()"))
        assert await _counted(session) == kept


async def test_concurrent_writes_of_one_partner_keep_the_counted_credits(engine):
    """Transactions committed for real and at once: credits of several deals of one partner on
    one day, and those deals' status changing meanwhile. Rows are per deal and a refresh holds
    the deal's lock, so none waits on another deal's and every deal ends as a refresh from
    scratch would leave it."""
    partner, other = uuid.uuid4(), uuid.uuid4()
    deals = [uuid.uuid4() for _ in range(6)]
    registered = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)

    async def run(statement, **values) -> None:
        async with engine.begin() as connection:
            await connection.execute(statement, values)

    def write(deal, minor, currency=BASE):
        return run(_WRITE, deal=deal, v=1, model="linear", currency=currency,
                   partners=[partner, other], roles=["sourced", "influenced"],
                   credits=[minor, minor // 3])

    try:
        await asyncio.gather(*(run(_DEAL, deal=d, partner=partner, status="registered",
                                   registered_at=registered, closed_on=dt.date(2026, 3, 9))
                               for d in deals))
        await asyncio.gather(*(write(d, 1000 + i) for i, d in enumerate(deals)))
        await asyncio.gather(
            *(write(d, 2000 + i, "USD") for i, d in enumerate(deals)),
            *(run(text("UPDATE deals SET status = 'won' WHERE deal_id = :deal"), deal=d)
              for d in deals[::2]),
            *(write(d, 3000 + i) for i, d in enumerate(deals[1::2])))
        async with engine.connect() as connection:
            kept = list(await connection.execute(text(
                "SELECT * FROM attribution_kpi_credits WHERE deal_id = ANY(:ids) "
                "ORDER BY deal_id, partner_id"), {"ids": deals}))
            await connection.execute(text("SELECT attribution_kpi_rebuild()"))
            rebuilt = list(await connection.execute(text(
                "SELECT * FROM attribution_kpi_credits WHERE deal_id = ANY(:ids) "
                "ORDER BY deal_id, partner_id"), {"ids": deals}))
            await connection.rollback()
        assert kept == rebuilt
        assert len(kept) == 2 * len(deals)
        assert {r.figure for r in kept if r.deal_id in deals[::2]} == {
            "sourced_revenue", "influenced_revenue"}
    finally:
        async with engine.begin() as connection:
            for table in ("attribution_credits", "attribution_results", "deals"):
                await connection.execute(text(f"DELETE FROM {table} WHERE deal_id = ANY(:ids)"),
                                         {"ids": deals})
