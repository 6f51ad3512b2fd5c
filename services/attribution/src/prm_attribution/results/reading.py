"""Reading credits back: the explanation of one deal and the list of attributed deals. A
partner key sees a deal only when its org touched it or holds a credit on it, and then only
its own touches, credits and model figures (another org's deal is "not found")."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, exists, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.deals.models import AttributedDeal
from prm_attribution.declaration import ATTRIBUTION_READ, ATTRIBUTION_WRITE
from prm_attribution.directory.names import partner_names
from prm_attribution.results import service
from prm_attribution.results.listing import ATTRIBUTED_DEALS
from prm_attribution.results.models import AttributionCreditRow, AttributionResult
from prm_attribution.results.schemas import (
    AttributedDealOut,
    AttributionCreditedPartner,
    AttributionExplainedPartner,
    AttributionExplainedTouch,
    AttributionExplanation,
    AttributionModel,
    AttributionModelCredit,
)
from prm_platform.listing import ListQuery
from prm_platform.money import Money, minor_units
from prm_platform.problems import NotFound
from prm_platform.security import Principal


def money(minor: int, currency: str) -> Money:
    return Money.of(Decimal(minor).scaleb(-minor_units(currency)), currency)


async def explain(session: AsyncSession, principal: Principal, deal_id: uuid.UUID,
                  rules_version: int | None) -> AttributionExplanation:
    principal.require(ATTRIBUTION_READ)
    deal = (await session.execute(text("SELECT deal_id, status FROM deals WHERE deal_id = :d"),
                                  {"d": deal_id})).first()
    if deal is None:
        raise NotFound("attributed deal not found")
    versions = list((await session.execute(text(
        "SELECT DISTINCT rules_version FROM attribution_results WHERE deal_id = :d "
        "ORDER BY rules_version"), {"d": deal_id})).scalars())
    version = rules_version if rules_version is not None else (versions[-1] if versions
                                                                else None)
    touches = list(await session.execute(text(
        "SELECT t.id, t.partner_id, t.kind, t.occurred_at, t.source, t.evidence FROM ("
        + service._TOUCHES.text + ") s JOIN touchpoints t USING (id) "
        "ORDER BY t.occurred_at, t.id"), {"deal": deal_id, "limit": service.MAX_TOUCHES}))
    credits = list(await session.execute(text(
        "SELECT model, partner_id, role, share, credit_minor FROM attribution_credits "
        "WHERE deal_id = :d AND rules_version = :v ORDER BY partner_id, model"),
        {"d": deal_id, "v": version}))
    own = principal.partner_id
    if principal.is_partner and not any(t.partner_id == own for t in touches) \
            and not any(c.partner_id == own for c in credits):
        raise NotFound("attributed deal not found")
    results = list(await session.execute(text(
        "SELECT model, basis, amount_minor, currency, details, computed_at "
        "FROM attribution_results WHERE deal_id = :d AND rules_version = :v"),
        {"d": deal_id, "v": version}))
    if not results:
        raise NotFound("the deal has no attribution under this rules version")
    currency = results[0].currency
    names = await partner_names(session, (
        p for p in [*(c.partner_id for c in credits), *(t.partner_id for t in touches)]
        if principal.can_see_partner(p)))
    partners: dict[uuid.UUID, AttributionExplainedPartner] = {}
    for c in credits:
        if principal.can_see_partner(c.partner_id):
            entry = partners.setdefault(c.partner_id, AttributionExplainedPartner(
                partner_id=c.partner_id, partner_name=names.get(c.partner_id), role=c.role,
                credits={}))
            entry.credits[AttributionModel(c.model)] = AttributionModelCredit(
                amount=money(c.credit_minor, currency), share=c.share)
    return AttributionExplanation(
        deal_id=deal_id, status=deal.status, basis=results[0].basis, rules_version=version,
        rules_versions=versions, amount=money(results[0].amount_minor, currency),
        computed_at=max(r.computed_at for r in results),
        touches=[AttributionExplainedTouch(id=t.id, partner_id=t.partner_id,
                                           partner_name=names.get(t.partner_id), kind=t.kind,
                                           occurred_at=t.occurred_at, source=t.source,
                                           evidence=t.evidence, position=i)
                 for i, t in enumerate(touches, 1) if principal.can_see_partner(t.partner_id)],
        partners=list(partners.values()),
        models={r.model: _visible(principal, r.details) for r in results})


def _visible(principal: Principal, details: dict[str, Any]) -> dict[str, Any]:
    """Model figures keyed by partner (removal effects, Shapley values): a partner key sees its
    own entry only."""
    if not principal.is_partner:
        return details
    own = str(principal.partner_id)
    return {key: ({k: v for k, v in value.items() if k == own} if isinstance(value, dict)
                  else value) for key, value in details.items()}


def _results_of(model: str, versions: Sequence[int], bases: Sequence[str],
                partners: Sequence[uuid.UUID] | None) -> list[ColumnElement[bool]]:
    """The results a deal of the list is shown by: of ``model``, of these rules versions and
    bases (any when empty), and, for ``partners``, of a version in which one of them holds a
    credit on the deal."""
    r, c = AttributionResult, AttributionCreditRow
    conditions = [r.model == model]
    if versions:
        conditions.append(r.rules_version.in_(versions))
    if bases:
        conditions.append(r.basis.in_(bases))
    if partners is not None:
        conditions.append(exists().where(c.deal_id == r.deal_id,
                                         c.rules_version == r.rules_version,
                                         c.model == r.model, c.partner_id.in_(partners)))
    return conditions


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery, *,
                    model: str, rules_versions: Sequence[int], bases: Sequence[str]
                    ) -> tuple[list[AttributedDealOut], str | None, int | None]:
    """Deals with results of ``model``, each under the newest rules version it has results of
    (among ``rules_versions``, of ``bases``, in which the partners filtered on hold a
    credit)."""
    principal.require(ATTRIBUTION_READ)
    partners = query.filters.get("partner_id")
    if principal.is_partner:  # the deals it holds a credit on; another org's filter: none
        own = principal.partner_id
        partners = [own] if partners is None or own in partners else []
        query = dataclasses.replace(query, filters={**query.filters, "partner_id": partners})
    shown = _results_of(model, rules_versions, bases, partners)
    visible = select(AttributedDeal).where(
        exists().where(AttributionResult.deal_id == AttributedDeal.deal_id, *shown))
    deals, cursor, total = await ATTRIBUTED_DEALS.page(session, visible, query)
    if not deals:
        return [], cursor, total
    ids = [d.deal_id for d in deals]
    r = AttributionResult
    chosen = {row.deal_id: row for row in await session.execute(
        select(r.deal_id, r.rules_version, r.basis, r.amount_minor, r.currency)
        .where(r.deal_id.in_(ids), *shown).ext(distinct_on(r.deal_id))
        .order_by(r.deal_id, r.rules_version.desc()))}
    credits: dict[uuid.UUID, list[Any]] = {}
    c = AttributionCreditRow
    for row in await session.execute(
            select(c.deal_id, c.rules_version, c.partner_id, c.role, c.share, c.credit_minor)
            .where(c.model == model, c.deal_id.in_(ids)).order_by(c.deal_id, c.partner_id)):
        if row.rules_version == chosen[row.deal_id].rules_version \
                and principal.can_see_partner(row.partner_id):
            credits.setdefault(row.deal_id, []).append(row)
    names = await partner_names(session, (row.partner_id for rows in credits.values()
                                          for row in rows))
    return [AttributedDealOut(
        deal_id=d.deal_id, customer_name=d.customer_name, customer_domain=d.customer_domain,
        status=d.status, basis=result.basis, model=model, rules_version=result.rules_version,
        amount=money(result.amount_minor, result.currency), updated_at=d.updated_at,
        credits=[AttributionCreditedPartner(
            partner_id=row.partner_id, partner_name=names.get(row.partner_id), role=row.role,
            share=row.share, amount=money(row.credit_minor, result.currency))
            for row in credits.get(d.deal_id, [])])
        # (a deal's results are replaced whole, never removed: each has its chosen one)
        for d in deals if (result := chosen.get(d.deal_id)) is not None], cursor, total


async def recompute(session: AsyncSession, principal: Principal, deal_id: uuid.UUID
                    ) -> AttributionExplanation:
    """Vendor keys: compute the deal now, under the newest rules version."""
    principal.require(ATTRIBUTION_WRITE)
    principal.ensure_vendor()
    await service.recompute(session, deal_id)
    return await explain(session, principal, deal_id, None)
