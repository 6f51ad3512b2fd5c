"""MDF ROI per activity and per activity type.

An activity is an MDF fund request; it is counted in the period its start date falls in, with
everything it cost and returned by the period's end. Its cost: the approved claims on it. Its
return: for each deal won (closed before the period's end) that a touch linked to the activity
counts for, the activity's part of its partner's credit on the deal under the chosen model (the
partner's touches on the deal linked to the activity over all its touches on the deal), kept
exact and rounded half-even once per activity (and once per activity type).
ROI = (return - cost) / cost.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.costs.models import MdfActivity
from prm_attribution.declaration import ATTRIBUTION_READ
from prm_attribution.directory.names import partner_names
from prm_attribution.kpis.figures import (
    MAX_IDS,
    Converter,
    activity_share,
    add_id,
    roi,
    round_half_even,
)
from prm_attribution.kpis.listing import MDF_ACTIVITIES
from prm_attribution.kpis.schemas import (
    AttributionFxRateUsed,
    AttributionMdfActivityRow,
    AttributionMdfActivityTypeRow,
)
from prm_attribution.kpis.service import check_period, load_rates
from prm_attribution.results.reading import money
from prm_platform.listing import ListQuery
from prm_platform.security import Principal

# Activity types are summed over at most this many activities of a period.
MAX_ACTIVITIES = 5000


def started_in(start: dt.date, end: dt.date) -> ColumnElement[bool]:
    """Activities that started in [start, end) (one whose submission has not arrived yet: by
    the day of its newest event)."""
    day = func.coalesce(MdfActivity.start_date, cast(MdfActivity.updated_at, Date))
    return and_(day >= start, day < end)


# Won deals a touch linked to one of ``keys`` counts for (the deal's own touches, and customer
# touches before its close, as for crediting), with the partner's credit on each; ``{key}``: the
# touches' column linking them (an MDF activity, a campaign's launch).
_RETURNS = """
    SELECT t.{key} AS key, d.deal_id, d.closed_on, c.credit_minor, r.currency,
           count(*) AS linked, array_agg(t.id ORDER BY t.id) AS touch_ids,
           (SELECT count(*) FROM touchpoints u WHERE u.partner_id = t.partner_id
            AND (u.deal_id = d.deal_id OR (u.deal_id IS NULL
                 AND u.customer_domain = d.customer_domain
                 AND u.occurred_at < d.closed_on + 1))) AS partner_touches
    FROM touchpoints t
    JOIN deals d ON (t.deal_id = d.deal_id OR (t.deal_id IS NULL
                     AND t.customer_domain = d.customer_domain
                     AND t.occurred_at < d.closed_on + 1))
    JOIN attribution_credits c ON c.deal_id = d.deal_id AND c.partner_id = t.partner_id
         AND c.model = :model
         AND c.rules_version = (SELECT max(rules_version) FROM attribution_results x
                                WHERE x.deal_id = c.deal_id AND x.model = c.model)
    JOIN attribution_results r ON r.deal_id = c.deal_id AND r.rules_version = c.rules_version
         AND r.model = c.model
    WHERE t.{key} = ANY(:keys) AND d.status = 'won' AND d.closed_on < :end
    GROUP BY t.{key}, t.partner_id, d.deal_id, d.closed_on, d.customer_domain,
             c.credit_minor, r.currency
    ORDER BY t.{key}, d.deal_id
"""
_RETURNS_BY = {key: text(_RETURNS.format(key=key)) for key in ("mdf_request_id", "launch_id")}


async def linked_returns(session: AsyncSession, key: str, keys: Sequence[uuid.UUID], *,
                         end: dt.date, model: str) -> Sequence[Any]:
    """Per touch link (``key``: ``mdf_request_id`` or ``launch_id`` of ``keys``), partner and
    won deal closed before ``end`` that its linked touches count for: the partner's credit on
    the deal under ``model`` (``credit_minor``, ``currency``), its ``linked`` touches and all
    its ``partner_touches`` on the deal, and the linked touches' ids. The link's part of the
    credit is ``figures.activity_share`` of them."""
    return list(await session.execute(_RETURNS_BY[key], {"keys": list(keys), "end": end,
                                                         "model": model}))


async def mdf_costs(session: AsyncSession, requests: Sequence[uuid.UUID], *, end: dt.date
                    ) -> Sequence[Any]:
    """The approved claims incurred before ``end`` on these MDF fund requests."""
    return list(await session.execute(text(
        "SELECT id, partner_id, mdf_request_id, amount_minor, currency, incurred_on "
        "FROM programme_costs WHERE kind = 'mdf' AND mdf_request_id = ANY(:acts) "
        "AND incurred_on < :end ORDER BY id"), {"acts": list(requests), "end": end}))


@dataclass
class ActivityFigures:
    row: Any
    converter: Converter
    cost: int = 0
    revenue: Fraction = Fraction(0)
    cost_ids: list[uuid.UUID] = field(default_factory=list)
    deal_ids: list[uuid.UUID] = field(default_factory=list)
    touchpoint_ids: list[uuid.UUID] = field(default_factory=list)
    unconverted_ids: list[uuid.UUID] = field(default_factory=list)


async def activity_figures(session: AsyncSession, activities: Sequence[MdfActivity], *,
                           base: str, end: dt.date, model: str) -> list[ActivityFigures]:
    """The cost and return by ``end`` of these activities, in their order."""
    if not activities:
        return []
    rates = await load_rates(session, base)
    found = {a.request_id: ActivityFigures(a, rates.child()) for a in activities}
    acts = list(found)
    for c in await mdf_costs(session, acts, end=end):
        figures = found[c.mdf_request_id]
        converted = figures.converter.convert(c.amount_minor, c.currency, c.incurred_on)
        if converted is None:
            add_id(figures.unconverted_ids, c.id)
            continue
        figures.cost += converted
        add_id(figures.cost_ids, c.id)
    for r in await linked_returns(session, "mdf_request_id", acts, end=end, model=model):
        figures = found[r.key]
        converted = figures.converter.convert(r.credit_minor, r.currency, r.closed_on)
        if converted is None:
            add_id(figures.unconverted_ids, r.deal_id)
            continue
        figures.revenue += activity_share(converted, r.linked, r.partner_touches)
        add_id(figures.deal_ids, r.deal_id)
        for touch in r.touch_ids:
            add_id(figures.touchpoint_ids, touch)
    return list(found.values())


def rates_used(converters: list[Converter]) -> list[AttributionFxRateUsed]:
    used: dict[tuple[str, dt.date], Any] = {}
    for converter in converters:
        used.update(converter.used)
    return [AttributionFxRateUsed(currency=r.currency, rate=str(r.rate), valid_on=r.valid_on)
            for r in used.values()]


async def mdf_activities(session: AsyncSession, principal: Principal, query: ListQuery, *,
                         base: str, start: dt.date, end: dt.date, model: str
                         ) -> tuple[list[AttributionMdfActivityRow], str | None, int | None]:
    principal.require(ATTRIBUTION_READ)
    check_period(start, end)
    visible = select(MdfActivity).where(started_in(start, end))
    if principal.is_partner:  # its own activities, whatever filter it sent
        visible = visible.where(MdfActivity.partner_id == principal.partner_id)
    activities, cursor, total = await MDF_ACTIVITIES.page(session, visible, query)
    found = await activity_figures(session, activities, base=base, end=end, model=model)
    names = await partner_names(session, (f.row.partner_id for f in found))
    return [AttributionMdfActivityRow(
        request_id=f.row.request_id, partner_id=f.row.partner_id,
        partner_name=names.get(f.row.partner_id), activity_type=f.row.activity_type,
        start_date=f.row.start_date, end_date=f.row.end_date, status=f.row.status,
        cost=money(f.cost, base), revenue=money(round_half_even(f.revenue), base),
        roi=roi(f.revenue, f.cost), cost_ids=f.cost_ids, deal_ids=f.deal_ids,
        touchpoint_ids=f.touchpoint_ids, unconverted_ids=f.unconverted_ids,
        fx_rates_used=rates_used([f.converter]))
        for f in found], cursor, total


async def mdf_activity_types(session: AsyncSession, principal: Principal, *, base: str,
                             start: dt.date, end: dt.date, model: str
                             ) -> list[AttributionMdfActivityTypeRow]:
    """Per activity type; a partner key sums its own activities only."""
    principal.require(ATTRIBUTION_READ)
    check_period(start, end)
    activities = select(MdfActivity).where(started_in(start, end))
    if principal.is_partner:
        activities = activities.where(MdfActivity.partner_id == principal.partner_id)
    found = await activity_figures(session, list((await session.execute(
        activities.order_by(MdfActivity.request_id).limit(MAX_ACTIVITIES))).scalars()),
        base=base, end=end, model=model)
    types: dict[str, list[ActivityFigures]] = {}
    for f in found:
        types.setdefault(f.row.activity_type or "unknown", []).append(f)
    rows = []
    for name in sorted(types):
        members = types[name]
        cost = sum(f.cost for f in members)
        revenue = sum((f.revenue for f in members), Fraction(0))
        unconverted: list[uuid.UUID] = []
        for f in members:
            for value in f.unconverted_ids:
                add_id(unconverted, value)
        rows.append(AttributionMdfActivityTypeRow(
            activity_type=name, activities=len(members), cost=money(cost, base),
            revenue=money(round_half_even(revenue), base), roi=roi(revenue, cost),
            request_ids=[f.row.request_id for f in members][:MAX_IDS],
            unconverted_ids=unconverted,
            fx_rates_used=rates_used([f.converter for f in members])))
    return rows
