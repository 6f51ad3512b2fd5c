"""Reading credits back: the explanation of one deal and the list of attributed deals. A
partner key sees a deal only when its org touched it or holds a credit on it, and then only
its own touches, credits and model figures (another org's deal is "not found")."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.declaration import ATTRIBUTION_READ, ATTRIBUTION_WRITE
from prm_attribution.results import service
from prm_attribution.results.schemas import (
    AttributedDealOut,
    AttributionCreditedPartner,
    AttributionExplainedPartner,
    AttributionExplainedTouch,
    AttributionExplanation,
    AttributionModelCredit,
)
from prm_platform.money import Money, minor_units
from prm_platform.pagination import PageRequest
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
    partners: dict[uuid.UUID, AttributionExplainedPartner] = {}
    for c in credits:
        if principal.can_see_partner(c.partner_id):
            entry = partners.setdefault(c.partner_id, AttributionExplainedPartner(
                partner_id=c.partner_id, role=c.role, credits={}))
            entry.credits[c.model] = AttributionModelCredit(amount=money(c.credit_minor, currency),
                                                 share=c.share)
    return AttributionExplanation(
        deal_id=deal_id, status=deal.status, basis=results[0].basis, rules_version=version,
        rules_versions=versions, amount=money(results[0].amount_minor, currency),
        computed_at=max(r.computed_at for r in results),
        touches=[AttributionExplainedTouch(id=t.id, partner_id=t.partner_id, kind=t.kind,
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


async def list_page(session: AsyncSession, principal: Principal, page: PageRequest, *,
                    model: str, partner_id: uuid.UUID | None, basis: str | None,
                    rules_version: int | None) -> list[AttributedDealOut]:
    principal.require(ATTRIBUTION_READ)
    if principal.is_partner:
        partner_id = principal.partner_id if partner_id in (None, principal.partner_id) \
            else uuid.UUID(int=0)  # another org's filter matches nothing
    rows = list(await session.execute(text(
        "SELECT DISTINCT ON (r.deal_id) r.deal_id, r.rules_version, r.basis, r.amount_minor, "
        "r.currency, d.status FROM attribution_results r JOIN deals d USING (deal_id) "
        "WHERE r.model = :model "
        "AND (CAST(:v AS integer) IS NULL OR r.rules_version = :v) "
        "AND (CAST(:basis AS text) IS NULL OR r.basis = :basis) "
        "AND (CAST(:after AS uuid) IS NULL OR r.deal_id > :after) "
        "AND (CAST(:partner AS uuid) IS NULL OR EXISTS (SELECT 1 FROM attribution_credits c "
        "     WHERE c.deal_id = r.deal_id AND c.rules_version = r.rules_version "
        "     AND c.model = r.model AND c.partner_id = :partner)) "
        "ORDER BY r.deal_id, r.rules_version DESC LIMIT :limit"), {
            "model": model, "v": rules_version, "basis": basis, "after": page.after,
            "partner": partner_id, "limit": page.limit + 1}))
    credits: dict[tuple[uuid.UUID, int], list[Any]] = {}
    if rows:
        for c in await session.execute(text(
                "SELECT deal_id, rules_version, partner_id, role, share, credit_minor "
                "FROM attribution_credits WHERE model = :model AND deal_id = ANY(:deals) "
                "ORDER BY deal_id, partner_id"),
                {"model": model, "deals": [r.deal_id for r in rows]}):
            credits.setdefault((c.deal_id, c.rules_version), []).append(c)
    return [AttributedDealOut(
        deal_id=r.deal_id, status=r.status, basis=r.basis, model=model,
        rules_version=r.rules_version, amount=money(r.amount_minor, r.currency),
        credits=[AttributionCreditedPartner(partner_id=c.partner_id, role=c.role, share=c.share,
                                 amount=money(c.credit_minor, r.currency))
                 for c in credits.get((r.deal_id, r.rules_version), [])
                 if principal.can_see_partner(c.partner_id)])
        for r in rows]


async def recompute(session: AsyncSession, principal: Principal, deal_id: uuid.UUID
                    ) -> AttributionExplanation:
    """Vendor keys: compute the deal now, under the newest rules version."""
    principal.require(ATTRIBUTION_WRITE)
    principal.ensure_vendor()
    await service.recompute(session, deal_id)
    return await explain(session, principal, deal_id, None)
