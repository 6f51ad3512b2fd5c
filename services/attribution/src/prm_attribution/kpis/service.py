"""FX rates and the programme KPIs per partner, in the base currency.

A credit is converted with the newest rate of its currency valid on the deal's date (its close
for revenue, its registration for pipeline), rounded half-even to the base currency's minor
unit per credit; the rates used are listed with each row, and a deal without a rate is listed
as unconverted rather than guessed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.declaration import ATTRIBUTION_READ, ATTRIBUTION_WRITE
from prm_attribution.kpis.models import AttributionFxRate
from prm_attribution.kpis.schemas import (
    AttributionFxRateIn,
    AttributionFxRateUsed,
    AttributionKpiRow,
)
from prm_attribution.results.reading import money
from prm_attribution.results.service import OPEN_STATUSES
from prm_platform.ids import new_id
from prm_platform.money import minor_units
from prm_platform.pagination import PageRequest
from prm_platform.problems import Conflict, Unprocessable
from prm_platform.security import Principal

MAX_DEAL_IDS = 200


async def record_rate(session: AsyncSession, principal: Principal, data: AttributionFxRateIn,
                      base: str) -> AttributionFxRate:
    principal.require(ATTRIBUTION_WRITE)
    principal.ensure_vendor()
    if data.currency == base:
        raise Unprocessable(f"{base} is the base currency; its rate is 1")
    minor_units(data.currency)
    row = AttributionFxRate(id=new_id(), currency=data.currency, base_currency=base,
                            rate=Decimal(data.rate), valid_on=data.valid_on,
                            recorded_by=principal.subject, recorded_at=dt.datetime.now(dt.UTC))
    if row.rate <= 0:
        raise Unprocessable("a rate is positive")
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict("a rate of this currency is recorded for that day already") from None
    return row


async def list_rates(session: AsyncSession, principal: Principal, page: PageRequest
                     ) -> list[AttributionFxRate]:
    principal.require(ATTRIBUTION_READ)
    query = select(AttributionFxRate).order_by(AttributionFxRate.id).limit(page.limit + 1)
    if page.after is not None:
        query = query.where(AttributionFxRate.id > page.after)
    return list((await session.execute(query)).scalars())


class _Converter:
    def __init__(self, rates: list[Any], base: str) -> None:
        self.base = base
        self.rates: dict[str, list[Any]] = {}
        for rate in rates:  # ordered by valid_on
            self.rates.setdefault(rate.currency, []).append(rate)
        self.used: dict[tuple[str, dt.date], Any] = {}

    def convert(self, minor: int, currency: str, on: dt.date) -> int | None:
        if currency == self.base:
            return minor
        found = [r for r in self.rates.get(currency, []) if r.valid_on <= on]
        if not found:
            return None
        rate = found[-1]
        self.used[(currency, rate.valid_on)] = rate
        value = Decimal(minor) * rate.rate * Decimal(10) ** (
            minor_units(self.base) - minor_units(currency))
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


async def kpis(session: AsyncSession, principal: Principal, page: PageRequest, *, base: str,
               start: dt.date, end: dt.date, model: str, partner_id: uuid.UUID | None,
               partner_type: str | None, tier: str | None, country: str | None
               ) -> list[AttributionKpiRow]:
    principal.require(ATTRIBUTION_READ)
    if start >= end:
        raise Unprocessable("`from` must be before `to`")
    if principal.is_partner:
        partner_id = principal.partner_id if partner_id in (None, principal.partner_id) \
            else uuid.UUID(int=0)
    partners = list(await session.execute(text(
        "SELECT p.partner_id, pd.name, pd.type, pd.tier, pd.country, pd.joined_at FROM ("
        "  SELECT partner_id FROM attribution_credits UNION SELECT partner_id FROM deals) p "
        "LEFT JOIN partner_directory pd USING (partner_id) "
        "WHERE (CAST(:partner AS uuid) IS NULL OR p.partner_id = :partner) "
        "AND (CAST(:type AS text) IS NULL OR pd.type = :type) "
        "AND (CAST(:tier AS text) IS NULL OR pd.tier = :tier) "
        "AND (CAST(:country AS text) IS NULL OR pd.country = :country) "
        "AND (CAST(:after AS uuid) IS NULL OR p.partner_id > :after) "
        "ORDER BY p.partner_id LIMIT :limit"), {
            "partner": partner_id, "type": partner_type, "tier": tier, "country": country,
            "after": page.after, "limit": page.limit + 1}))
    ids = [p.partner_id for p in partners]
    if not ids:
        return []
    # Each deal's credits under the newest rules version it has results of.
    credits = list(await session.execute(text(
        "SELECT c.partner_id, c.deal_id, c.role, c.credit_minor, r.currency, r.basis, "
        "d.closed_on, d.registered_at, d.status FROM attribution_credits c "
        "JOIN attribution_results r USING (deal_id, rules_version, model) "
        "JOIN deals d USING (deal_id) WHERE c.model = :model AND c.partner_id = ANY(:ids) "
        "AND c.rules_version = (SELECT max(rules_version) FROM attribution_results x "
        "                       WHERE x.deal_id = c.deal_id AND x.model = c.model) "
        "ORDER BY c.deal_id"), {"model": model, "ids": ids}))
    registrations = {r.partner_id: r for r in await session.execute(text(
        "SELECT partner_id, count(*) AS registered, count(*) FILTER (WHERE status = 'won') "
        "AS won, count(*) FILTER (WHERE status IN ('won', 'lost', 'rejected', 'expired')) "
        "AS decided FROM deals WHERE partner_id = ANY(:ids) AND registered_at >= :start "
        "AND registered_at < :end GROUP BY partner_id"),
        {"ids": ids, "start": _midnight(start), "end": _midnight(end)})}
    first_wins = {r.partner_id: r.first for r in await session.execute(text(
        "SELECT partner_id, min(closed_on) AS first FROM deals WHERE status = 'won' "
        "AND partner_id = ANY(:ids) GROUP BY partner_id"), {"ids": ids})}
    rates = list(await session.execute(text(
        "SELECT currency, rate, valid_on FROM fx_rates WHERE base_currency = :base "
        "ORDER BY currency, valid_on"), {"base": base}))
    rows = []
    for partner in partners:
        converter = _Converter(rates, base)
        sums = {"sourced_revenue": 0, "influenced_revenue": 0, "sourced_pipeline": 0,
                "influenced_pipeline": 0}
        deals: list[uuid.UUID] = []
        unconverted: list[uuid.UUID] = []
        for c in credits:
            if c.partner_id != partner.partner_id:
                continue
            if c.status == "won" and c.closed_on is not None and start <= c.closed_on < end:
                figure, on = f"{c.role}_revenue", c.closed_on
            elif (c.status in OPEN_STATUSES and c.registered_at is not None
                  and start <= c.registered_at.date() < end):
                figure, on = f"{c.role}_pipeline", c.registered_at.date()
            else:
                continue
            converted = converter.convert(c.credit_minor, c.currency, on)
            if converted is None:
                unconverted.append(c.deal_id)
                continue
            sums[figure] += converted
            deals.append(c.deal_id)
        registered = registrations.get(partner.partner_id)
        decided = registered.decided if registered else 0
        first = first_wins.get(partner.partner_id)
        rows.append(AttributionKpiRow(
            partner_id=partner.partner_id, partner_name=partner.name,
            partner_type=partner.type, partner_tier=partner.tier,
            partner_country=partner.country,
            **{name: money(value, base) for name, value in sums.items()},
            registrations=registered.registered if registered else 0,
            registrations_won=registered.won if registered else 0,
            registrations_decided=decided,
            win_rate=f"{Decimal(registered.won) / decided:.4f}" if registered and decided
            else None,
            time_to_first_deal_days=(first - partner.joined_at.date()).days
            if first is not None and partner.joined_at is not None else None,
            deal_ids=deals[:MAX_DEAL_IDS], unconverted_deal_ids=unconverted[:MAX_DEAL_IDS],
            fx_rates_used=[AttributionFxRateUsed(currency=r.currency, rate=str(r.rate),
                                                 valid_on=r.valid_on)
                           for r in converter.used.values()]))
    return rows


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
