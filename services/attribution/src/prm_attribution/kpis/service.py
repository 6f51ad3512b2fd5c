"""FX rates and the programme KPIs, per partner and per group of partners, in the base
currency (the arithmetic and its rounding: ``prm_attribution.kpis.figures``). The rates are
the incentives ledger's, kept here as a projection of ``prm.fx.rate_set.v1`` (``rate_set``):
a rate from a currency to the base currency converts it.

A credit is converted with the newest rate of its currency valid on the deal's date (its close
for revenue, its registration for pipeline), a cost on the day it was incurred, a payout on the
day it was paid; the rates used are listed with each row, and an item without a rate is listed
as unconverted rather than guessed. Credits are read from ``attribution_kpi_credits`` (the
credits counted, kept by triggers; migration 0009), summed per partner, figure, currency and
rate and converted once per sum (the rounding rule: ``kpis.figures``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from fractions import Fraction
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.declaration import ATTRIBUTION_READ
from prm_attribution.kpis.figures import (
    COST_KINDS,
    MAX_IDS,
    Converter,
    PartnerFigures,
    add_id,
    ratio,
    round_half_even,
)
from prm_attribution.kpis.listing import KPI_PARTNERS, PROGRAMME_PARTNERS
from prm_attribution.kpis.schemas import (
    AttributionFxRateUsed,
    AttributionKpiGroup,
    AttributionKpiRow,
    AttributionNetAmount,
)
from prm_attribution.results.reading import money
from prm_contracts import FxRateSetV1
from prm_platform.listing import ListQuery
from prm_platform.money import minor_units, pair_rate
from prm_platform.problems import Unprocessable
from prm_platform.security import Principal

_PROJECT_RATE = text("""
    INSERT INTO fx_rates (id, currency, base_currency, rate, valid_on, recorded_at)
    VALUES (:id, :base, :quote, :rate, :effective_on, :recorded_at)
    ON CONFLICT (currency, base_currency, valid_on) DO UPDATE SET
        id = excluded.id, rate = excluded.rate, recorded_at = excluded.recorded_at
    WHERE (fx_rates.id, fx_rates.rate) IS DISTINCT FROM (excluded.id, excluded.rate)
""")


async def rate_set(session: AsyncSession, rate: FxRateSetV1) -> None:
    """Keep a rate the incentives ledger (the one owner of FX rates) recorded; a rate entered
    here before the ledger owned them gives way to the ledger's of the same pair and day. The
    KPIs are computed when asked, so nothing else moves. A broken event is refused."""
    value = pair_rate(rate.base, rate.quote, rate.rate)
    await session.execute(_PROJECT_RATE, {
        "id": rate.rate_id, "base": rate.base, "quote": rate.quote, "rate": value,
        "effective_on": rate.effective_on, "recorded_at": rate.recorded_at})


# A page's partners' counted credits of [start, end), summed per partner, figure, currency
# and the rate applied (the ``valid_on`` of the newest rate of the currency valid on the
# credit's day; null for the base currency or without a rate), with the first deals by id. One
# range of ``ix_attribution_kpi_credits_partner`` per partner.
CREDIT_SUMS = text("""
    SELECT c.partner_id, c.figure, c.currency, r.valid_from AS rate_on,
        sum(c.credit_minor) AS minor,
        (array_agg(c.deal_id ORDER BY c.deal_id))[1:CAST(:max_ids AS integer)] AS deal_ids
    FROM attribution_kpi_credits c
    LEFT JOIN unnest(CAST(:run_currencies AS text[]), CAST(:run_from AS date[]),
                     CAST(:run_to AS date[])) AS r(currency, valid_from, valid_to)
        ON r.currency = c.currency AND c.day >= r.valid_from AND c.day < r.valid_to
    WHERE c.partner_id = ANY(:ids) AND c.model = :model AND c.day >= :start AND c.day < :end
    GROUP BY c.partner_id, c.figure, c.currency, r.valid_from
    ORDER BY c.partner_id, c.figure, c.currency, r.valid_from
""")


def rate_runs(converter: Converter, start: dt.date, end: dt.date
              ) -> tuple[dict[str, list[Any]], dict[tuple[str, dt.date], Any]]:
    """``CREDIT_SUMS``'s rate parameters for [start, end), and the rate rows its ``rate_on``
    names, by (currency, valid_on)."""
    runs = converter.runs(start, end)
    return ({"run_currencies": [rate.currency for rate, _ in runs],
             "run_from": [rate.valid_on for rate, _ in runs],
             "run_to": [until for _, until in runs]},
            {(rate.currency, rate.valid_on): rate for rate, _ in runs})


async def load_rates(session: AsyncSession, base: str) -> Converter:
    return Converter(list(await session.execute(text(
        "SELECT currency, rate, valid_on FROM fx_rates WHERE base_currency = :base "
        "ORDER BY currency, valid_on"), {"base": base})), base)


def _used(converter: Converter) -> list[AttributionFxRateUsed]:
    return [AttributionFxRateUsed(currency=r.currency, rate=str(r.rate), valid_on=r.valid_on)
            for r in converter.used.values()]


async def known_partners(session: AsyncSession) -> list[Any]:
    """Every partner the programme knows of (``kpis.listing.PROGRAMME_PARTNERS``), by id."""
    return list(await session.execute(select(PROGRAMME_PARTNERS).order_by(
        PROGRAMME_PARTNERS.c.partner_id)))


async def partner_figures(session: AsyncSession, partners: Sequence[Any], *, base: str,
                          start: dt.date, end: dt.date, model: str) -> list[PartnerFigures]:
    """The figures of [start, end) of these partners (rows of ``PROGRAMME_PARTNERS``), in
    their order."""
    if not partners:
        return []
    converter = await load_rates(session, base)
    found = {p.partner_id: PartnerFigures(
        partner_id=p.partner_id, name=p.name, type=p.type, tier=p.tier, country=p.country,
        joined_at=p.joined_at, activated_at=p.activated_at,
        onboarded_at=p.onboarding_completed_at, converter=converter.child())
        for p in partners}
    ids = list(found)
    period = {"ids": ids, "start": start, "end": end, "from_ts": _midnight(start),
              "to_ts": _midnight(end)}
    # The counted credits (``attribution_kpi_credits``: each deal's credits under the newest
    # rules version it has results of, revenue of won deals on their close, pipeline of open
    # deals on their registration) of the period, summed per figure, currency and rate.
    runs, applied = rate_runs(converter, start, end)
    for c in await session.execute(CREDIT_SUMS, {**period, "model": model, "max_ids": MAX_IDS,
                                                 **runs}):
        rate = None if c.rate_on is None else applied[c.currency, c.rate_on]
        found[c.partner_id].add_credits(c.figure, int(c.minor), c.currency, rate, c.deal_ids)
    for r in await session.execute(text(
            "SELECT partner_id, count(*) AS registered, count(*) FILTER (WHERE status = 'won') "
            "AS won, count(*) FILTER (WHERE status IN ('won', 'lost', 'rejected', 'expired', "
            "'win_reversed')) AS decided FROM deals WHERE partner_id = ANY(:ids) "
            "AND registered_at >= :from_ts AND registered_at < :to_ts GROUP BY partner_id"),
            period):
        figures = found[r.partner_id]
        figures.registrations, figures.registrations_won = r.registered, r.won
        figures.registrations_decided = r.decided
    for r in await session.execute(text(
            "SELECT p.id AS partner_id, (SELECT min(closed_on) FROM deals WHERE status = 'won' "
            "AND partner_id = p.id) AS first FROM unnest(CAST(:ids AS uuid[])) AS p(id)"),
            period):
        found[r.partner_id].first_win = r.first
    for r in await session.execute(text(
            "SELECT id, partner_id, kind, amount_minor, currency, incurred_on "
            "FROM programme_costs WHERE partner_id = ANY(:ids) AND incurred_on >= :start "
            "AND incurred_on < :end ORDER BY id"), period):
        found[r.partner_id].add_cost(r.kind, r.id, r.amount_minor, r.currency, r.incurred_on)
    for r in await session.execute(text(
            "SELECT batch_id, partner_id, total_minor, currency, paid_on FROM payouts "
            "WHERE partner_id = ANY(:ids) AND status = 'paid' AND paid_on >= :start "
            "AND paid_on < :end ORDER BY batch_id"), period):
        found[r.partner_id].add_payout(r.batch_id, r.total_minor, r.currency, r.paid_on)
    for r in await session.execute(text(
            "SELECT certification_id, partner_id, earned_on FROM certifications "
            "WHERE partner_id = ANY(:ids) ORDER BY earned_on, certification_id"), period):
        figures = found[r.partner_id]
        if figures.first_certification is None:
            figures.first_certification = r.earned_on
        if start <= r.earned_on < end:
            figures.certifications_earned += 1
            add_id(figures.certification_ids, r.certification_id)
    for figures in found.values():
        figures.finish_ids()
    return list(found.values())


async def _vendor_figures(session: AsyncSession, kind: str, start: dt.date, end: dt.date,
                          converter: Converter) -> list[tuple[Any, int | None]]:
    """The vendor's figures of ``kind`` whose period lies inside [start, end), each with its
    amount in the base currency (None without a rate)."""
    rows = list(await session.execute(text(
        "SELECT id, amount_minor, currency, period_from, partner_type FROM vendor_figures "
        "WHERE kind = :kind AND period_from >= :start AND period_to <= :end ORDER BY id "
        "LIMIT :limit"), {"kind": kind, "start": start, "end": end, "limit": MAX_IDS}))
    return [(r, converter.convert(r.amount_minor, r.currency, r.period_from)) for r in rows]


def _total(figures: list[tuple[Any, int | None]]) -> int | None:
    """The vendor's total; None without one, or when a part of it has no rate (a partial
    denominator would overstate every contribution)."""
    amounts = [amount for _, amount in figures]
    if not amounts or any(amount is None for amount in amounts):
        return None
    return sum(a for a in amounts if a is not None)


def _unconverted(figures: list[tuple[Any, int | None]]) -> list[uuid.UUID]:
    return [r.id for r, amount in figures if amount is None]


def check_period(start: dt.date, end: dt.date) -> None:
    if start >= end:
        raise Unprocessable("`from` must be before `to`")


async def kpis(session: AsyncSession, principal: Principal, query: ListQuery, *, base: str,
               start: dt.date, end: dt.date, model: str
               ) -> tuple[list[AttributionKpiRow], str | None, int | None]:
    principal.require(ATTRIBUTION_READ)
    check_period(start, end)
    visible = select(PROGRAMME_PARTNERS)
    if principal.is_partner:  # its own row, whatever filter it sent
        visible = visible.where(PROGRAMME_PARTNERS.c.partner_id == principal.partner_id)
    partners, cursor, total = await KPI_PARTNERS.page(session, visible, query)
    found = await partner_figures(session, partners, base=base, start=start, end=end,
                                  model=model)
    if not found:
        return [], cursor, total
    totals = await _vendor_figures(session, "total_pipeline", start, end, found[0].converter)
    vendor_total = _total(totals)
    rows = []
    for f in found:
        rows.append(AttributionKpiRow(
            partner_id=f.partner_id, partner_name=f.name, partner_type=f.type,
            partner_tier=f.tier, partner_country=f.country,
            **{name: money(value, base) for name, value in f.sums.items()},
            registrations=f.registrations, registrations_won=f.registrations_won,
            registrations_decided=f.registrations_decided,
            win_rate=ratio(f.registrations_won, f.registrations_decided),
            time_to_first_deal_days=f.days_to(f.first_win),
            time_to_first_value_days=f.days_to_first_value(),
            pipeline_contribution=ratio(f.pipeline, vendor_total) if vendor_total else None,
            programme_cost=AttributionNetAmount.of(f.programme_cost, base),
            programme_cost_by_kind={k: AttributionNetAmount.of(v, base)
                                    for k, v in f.costs.items()},
            payouts_paid=money(f.payouts_paid, base),
            ropi=ratio(f.revenue, f.programme_cost) if f.programme_cost > 0 else None,
            certifications_earned=f.certifications_earned,
            days_to_first_certification=f.days_to(f.first_certification),
            deal_ids=f.deal_ids, unconverted_deal_ids=f.unconverted_deal_ids,
            cost_ids=f.cost_ids, payout_batch_ids=f.payout_batch_ids,
            unconverted_cost_ids=[*f.unconverted_cost_ids, *_unconverted(totals)][:MAX_IDS],
            certification_ids=f.certification_ids,
            vendor_figure_ids=[r.id for r, amount in totals if amount is not None],
            fx_rates_used=_used(f.converter)))
    return rows, cursor, total


def _group_key(figures: PartnerFigures, group_by: str) -> str:
    value = {"programme": "programme", "partner_type": figures.type, "tier": figures.tier,
             "country": figures.country}[group_by]
    return value if value is not None else "unknown"


def _mean(values: list[int]) -> str | None:
    return ratio(sum(values), len(values), places=2) if values else None


async def programme(session: AsyncSession, principal: Principal, *, base: str,
                    start: dt.date, end: dt.date, model: str, group_by: str
                    ) -> list[AttributionKpiGroup]:
    """The programme's figures of a period, whole or by partner type, tier or country.
    Vendor keys only: they add up every partner's."""
    principal.require(ATTRIBUTION_READ)
    principal.ensure_vendor()
    check_period(start, end)
    found = await partner_figures(session, await known_partners(session), base=base,
                                  start=start, end=end, model=model)
    converter = found[0].converter if found else await load_rates(session, base)
    groups: dict[str, list[PartnerFigures]] = {}
    for f in found:
        groups.setdefault(_group_key(f, group_by), []).append(f)
    totals = await _vendor_figures(session, "total_pipeline", start, end, converter)
    vendor_total = _total(totals)
    acquisition = await _vendor_figures(session, "acquisition_cost", start, end, converter)
    customers = await _customers(session, start, end, {f.partner_id: f for f in found},
                                 group_by, converter)
    rows = []
    for key in sorted(set(groups) | set(customers)):
        members = groups.get(key, [])
        lines = [(r, amount) for r, amount in acquisition if amount is not None and (
            group_by == "programme" or (group_by == "partner_type" and r.partner_type == key))]
        acquisition_cost = sum(amount for _, amount in lines) \
            if group_by in ("programme", "partner_type") else None
        activated = [f.partner_id for f in members if f.activated_at is not None
                     and start <= f.activated_at.date() < end]
        cohort = [f for f in members if f.joined_on() is not None
                  and start <= f.joined_on() < end]  # type: ignore[operator]
        to_certification = [d for f in cohort if (d := f.days_to(f.first_certification))
                            is not None]
        to_first_deal = [d for f in cohort if (d := f.days_to(f.first_win)) is not None]
        to_first_value = [d for f in cohort if (d := f.days_to_first_value()) is not None]
        sums = {name: sum(f.sums[name] for f in members) for name in (
            "sourced_revenue", "influenced_revenue", "sourced_pipeline", "influenced_pipeline")}
        costs = {kind: sum(f.costs[kind] for f in members) for kind in COST_KINDS}
        revenue = sums["sourced_revenue"] + sums["influenced_revenue"]
        pipeline = sums["sourced_pipeline"] + sums["influenced_pipeline"]
        cost = sum(costs.values())
        acquired = customers.get(key)
        used: dict[tuple[str, dt.date], Any] = {}
        for f in members:
            used.update(f.converter.used)
        used.update(converter.used)
        rows.append(AttributionKpiGroup(
            group_by=group_by, group=key, partners=len(members),
            **{name: money(value, base) for name, value in sums.items()},
            revenue=money(revenue, base), pipeline=money(pipeline, base),
            vendor_total_pipeline=money(vendor_total, base) if vendor_total else None,
            pipeline_contribution=ratio(pipeline, vendor_total) if vendor_total else None,
            programme_cost=AttributionNetAmount.of(cost, base),
            programme_cost_by_kind={k: AttributionNetAmount.of(v, base)
                                    for k, v in costs.items()},
            payouts_paid=money(sum(f.payouts_paid for f in members), base),
            ropi=ratio(revenue, cost) if cost > 0 else None,
            partners_activated=len(activated),
            acquisition_cost=money(acquisition_cost, base)
            if acquisition_cost is not None else None,
            partner_acquisition_cost=money(round_half_even(Fraction(acquisition_cost,
                                                                    len(activated))), base)
            if acquisition_cost is not None and activated else None,
            customers_acquired=acquired.customers if acquired else 0,
            customer_lifetime_revenue=money(acquired.revenue if acquired else 0, base),
            repeat_revenue=money(acquired.repeat if acquired else 0, base),
            cltv=money(round_half_even(Fraction(acquired.revenue, acquired.customers)), base)
            if acquired and acquired.customers else None,
            certifications_earned=sum(f.certifications_earned for f in members),
            cohort_partners=len(cohort),
            days_to_first_certification_mean=_mean(to_certification),
            time_to_first_deal_days_mean=_mean(to_first_deal),
            time_to_first_value_days_mean=_mean(to_first_value),
            partner_ids=[f.partner_id for f in members][:MAX_IDS],
            activated_partner_ids=activated[:MAX_IDS],
            deal_ids=_ids(f.deal_ids for f in members),
            cost_ids=_ids(f.cost_ids for f in members),
            payout_batch_ids=_ids(f.payout_batch_ids for f in members),
            certification_ids=_ids(f.certification_ids for f in members),
            customer_deal_ids=acquired.deal_ids if acquired else [],
            vendor_figure_ids=[r.id for r, amount in totals if amount is not None]
            + [r.id for r, _ in lines],
            unconverted_ids=_ids([*(f.unconverted_deal_ids for f in members),
                                  *(f.unconverted_cost_ids for f in members),
                                  acquired.unconverted if acquired else [],
                                  _unconverted(totals), _unconverted(acquisition)]),
            fx_rates_used=[AttributionFxRateUsed(currency=r.currency, rate=str(r.rate),
                                                 valid_on=r.valid_on) for r in used.values()]))
    return rows


def _ids(lists: Any) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    for ids in lists:
        for value in ids:
            add_id(found, value)
    return found


@dataclass
class _Acquired:
    customers: int = 0
    revenue: int = 0
    repeat: int = 0
    deal_ids: list[uuid.UUID] = dataclass_field(default_factory=list)
    unconverted: list[uuid.UUID] = dataclass_field(default_factory=list)


async def _customers(session: AsyncSession, start: dt.date, end: dt.date,
                     partners: dict[uuid.UUID, PartnerFigures], group_by: str,
                     converter: Converter) -> dict[str, _Acquired]:
    """Customers (by domain) whose first won deal closed in [start, end), grouped by the
    partner that registered that deal, with every won deal of theirs (new, renewal, upsell,
    by any partner) closed before ``end``: their lifetime revenue so far."""
    found: dict[str, _Acquired] = {}
    seen: set[str] = set()
    for r in await session.execute(text(
            "WITH firsts AS (SELECT DISTINCT ON (customer_domain) customer_domain, "
            "  partner_id, deal_id, closed_on FROM deals WHERE status = 'won' "
            "  AND customer_domain IS NOT NULL AND closed_on IS NOT NULL "
            "  ORDER BY customer_domain, closed_on, deal_id) "
            "SELECT f.customer_domain, f.partner_id AS acquired_by, f.deal_id AS first_deal, "
            "d.deal_id, d.amount, d.currency, d.closed_on, d.deal_type FROM firsts f "
            "JOIN deals d ON d.customer_domain = f.customer_domain AND d.status = 'won' "
            "AND d.closed_on < :end AND d.amount IS NOT NULL "
            "WHERE f.closed_on >= :start AND f.closed_on < :end "
            "ORDER BY f.customer_domain, d.closed_on, d.deal_id"),
            {"start": start, "end": end}):
        acquirer = partners.get(r.acquired_by)
        if acquirer is None:
            continue
        group = found.setdefault(_group_key(acquirer, group_by), _Acquired())
        if r.customer_domain not in seen:
            seen.add(r.customer_domain)
            group.customers += 1
        minor = int(r.amount.scaleb(minor_units(r.currency)))
        converted = converter.convert(minor, r.currency, r.closed_on)
        if converted is None:
            add_id(group.unconverted, r.deal_id)
            continue
        group.revenue += converted
        if r.deal_id != r.first_deal and r.deal_type in ("renewal", "upsell"):
            group.repeat += converted
        add_id(group.deal_ids, r.deal_id)
    return found


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
