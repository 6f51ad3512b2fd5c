"""Campaign ROI: through-channel marketing campaigns launched by partners.

A campaign is counted with its launches of the period (launched in it; a partner key: its own
launches only), with everything they cost and returned by the period's end. Its cost: the
approved claims on the MDF fund requests funding those launches (each request once, and only
a request of the launch's own partner). Its touches: the touchpoints its launches' engagements
made. Its return: for each deal won (closed before the period's end) that those touches count
for, the partner's credit on the deal under the chosen model times the partner's touches on the
deal from the launches over all its touches on the deal (the MDF activity's formula, keyed by
launch: ``mdf.linked_returns``), kept exact and rounded half-even once per campaign.
ROI = (return - cost) / cost.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.campaigns.models import Campaign, CampaignLaunch
from prm_attribution.declaration import ATTRIBUTION_READ
from prm_attribution.kpis.figures import (
    MAX_IDS,
    Converter,
    activity_share,
    add_id,
    roi,
    round_half_even,
)
from prm_attribution.kpis.listing import CAMPAIGNS
from prm_attribution.kpis.mdf import linked_returns, mdf_costs, rates_used
from prm_attribution.kpis.schemas import AttributionCampaignRow
from prm_attribution.kpis.service import check_period, load_rates
from prm_attribution.results.reading import money
from prm_platform.listing import ListQuery
from prm_platform.security import Principal


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclass
class CampaignFigures:
    row: Campaign
    converter: Converter
    partners: set[uuid.UUID] = field(default_factory=set)
    launch_ids: list[uuid.UUID] = field(default_factory=list)
    request_ids: list[uuid.UUID] = field(default_factory=list)
    touches: int = 0
    touchpoint_ids: list[uuid.UUID] = field(default_factory=list)
    won: set[uuid.UUID] = field(default_factory=set)
    cost: int = 0
    revenue: Fraction = Fraction(0)
    cost_ids: list[uuid.UUID] = field(default_factory=list)
    deal_ids: list[uuid.UUID] = field(default_factory=list)
    unconverted_ids: list[uuid.UUID] = field(default_factory=list)


async def campaign_figures(session: AsyncSession, campaigns: Sequence[Campaign], *,
                           base: str, start: dt.date, end: dt.date, model: str,
                           partner_id: uuid.UUID | None = None) -> list[CampaignFigures]:
    """The figures of these campaigns' launches of [start, end) (``partner_id``'s only when
    given), in their order."""
    if not campaigns:
        return []
    rates = await load_rates(session, base)
    found = {c.campaign_id: CampaignFigures(c, rates.child()) for c in campaigns}
    launched = select(CampaignLaunch).where(
        CampaignLaunch.campaign_id.in_(list(found)),
        CampaignLaunch.launched_at >= _midnight(start),
        CampaignLaunch.launched_at < _midnight(end)).order_by(CampaignLaunch.launch_id)
    if partner_id is not None:
        launched = launched.where(CampaignLaunch.partner_id == partner_id)
    launches = {launch.launch_id: launch
                for launch in (await session.execute(launched)).scalars()}
    # Each fund request's campaigns (once each) and the partner whose request it must be.
    funded: dict[uuid.UUID, dict[uuid.UUID, uuid.UUID]] = {}
    for launch in launches.values():
        figures = found[launch.campaign_id]
        figures.partners.add(launch.partner_id)
        figures.launch_ids.append(launch.launch_id)
        if launch.mdf_request_id is not None:
            funded.setdefault(launch.mdf_request_id, {})[launch.campaign_id] = launch.partner_id
            add_id(figures.request_ids, launch.mdf_request_id)
    if not launches:
        return list(found.values())
    for t in await session.execute(text(
            "SELECT launch_id, count(*) AS touches, "
            "(array_agg(id ORDER BY id))[1:CAST(:max_ids AS integer)] AS ids FROM touchpoints "
            "WHERE launch_id = ANY(:launches) AND occurred_at < :end GROUP BY launch_id"),
            {"launches": list(launches), "end": _midnight(end), "max_ids": MAX_IDS}):
        figures = found[launches[t.launch_id].campaign_id]
        figures.touches += t.touches
        figures.touchpoint_ids = sorted({*figures.touchpoint_ids, *t.ids})[:MAX_IDS]
    for c in await mdf_costs(session, list(funded), end=end):
        for campaign_id, partner in funded[c.mdf_request_id].items():
            if partner != c.partner_id:  # another partner's request pays for nothing here
                continue
            figures = found[campaign_id]
            converted = figures.converter.convert(c.amount_minor, c.currency, c.incurred_on)
            if converted is None:
                add_id(figures.unconverted_ids, c.id)
                continue
            figures.cost += converted
            add_id(figures.cost_ids, c.id)
    for r in await linked_returns(session, "launch_id", list(launches), end=end, model=model):
        figures = found[launches[r.key].campaign_id]
        figures.won.add(r.deal_id)
        converted = figures.converter.convert(r.credit_minor, r.currency, r.closed_on)
        if converted is None:
            add_id(figures.unconverted_ids, r.deal_id)
            continue
        figures.revenue += activity_share(converted, r.linked, r.partner_touches)
        add_id(figures.deal_ids, r.deal_id)
    return list(found.values())


async def campaigns(session: AsyncSession, principal: Principal, query: ListQuery, *,
                    base: str, start: dt.date, end: dt.date, model: str
                    ) -> tuple[list[AttributionCampaignRow], str | None, int | None]:
    principal.require(ATTRIBUTION_READ)
    check_period(start, end)
    in_period = [CampaignLaunch.campaign_id == Campaign.campaign_id,
                 CampaignLaunch.launched_at >= _midnight(start),
                 CampaignLaunch.launched_at < _midnight(end)]
    partner_id = principal.partner_id if principal.is_partner else None
    if principal.is_partner:  # the campaigns it launched, whatever filter it sent
        in_period.append(CampaignLaunch.partner_id == principal.partner_id)
    visible = select(Campaign).where(exists().where(and_(*in_period)))
    rows, cursor, total = await CAMPAIGNS.page(session, visible, query)
    found = await campaign_figures(session, rows, base=base, start=start, end=end,
                                   model=model, partner_id=partner_id)
    return [_row(f, base) for f in found], cursor, total


def _row(f: CampaignFigures, base: str) -> AttributionCampaignRow:
    row: Any = f.row
    return AttributionCampaignRow(
        campaign_id=row.campaign_id, name=row.name, status=row.status,
        launches=len(f.launch_ids), partners=len(f.partners), touches=f.touches,
        won_deals=len(f.won), cost=money(f.cost, base),
        revenue=money(round_half_even(f.revenue), base), roi=roi(f.revenue, f.cost),
        launch_ids=f.launch_ids[:MAX_IDS], request_ids=f.request_ids, cost_ids=f.cost_ids,
        deal_ids=f.deal_ids, touchpoint_ids=f.touchpoint_ids,
        unconverted_ids=f.unconverted_ids, fx_rates_used=rates_used([f.converter]))
