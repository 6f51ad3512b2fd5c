"""The partner home in one query: every section is a subquery over the partner's rows, each
answered as JSON (money as text: never a float)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.money import format_amount
from prm_platform.problems import NotFound, Unprocessable
from prm_platform.security import Principal
from prm_portal.declaration import DEALS_READ, INCENTIVES_READ, PARTNERS_READ, PORTAL_READ
from prm_portal.home.schemas import PartnerHome

OPEN_DEALS = "('submitted', 'in_review', 'approved')"
# A request reserves its planned cost until one of its claims is decided.
_RESERVING = "('submitted', 'changes_requested', 'approved', 'claimed')"

_HOME = text(f"""
WITH p AS (SELECT CAST(:partner_id AS uuid) AS id)
SELECT
  (SELECT row_to_json(c) FROM (SELECT name, type, country, status, tier, as_of
                               FROM partner_cards, p WHERE partner_id = p.id) c) AS partner,
  (SELECT row_to_json(t) FROM (SELECT tier AS current, previous_tier AS previous, direction,
                                      criteria, reason, changed_at, changed_at AS as_of
                               FROM tier_changes, p WHERE partner_id = p.id) t) AS tier,
  (SELECT row_to_json(o) FROM (SELECT true AS completed, completed_at, as_of
                               FROM onboarding, p WHERE partner_id = p.id) o) AS onboarding,
  (SELECT json_build_object('progress', progress, 'as_of', as_of)
   FROM tier_progress, p WHERE partner_id = p.id) AS tier_progress,
  (SELECT json_build_object('progress', progress, 'as_of', as_of)
   FROM onboarding_progress, p WHERE partner_id = p.id) AS onboarding_progress,
  (SELECT json_build_object(
      'active', count(*) FILTER (WHERE expired_on IS NULL
                                 AND (expires_on IS NULL OR expires_on >= current_date)),
      'expiring', (SELECT coalesce(json_agg(e ORDER BY e.expires_on, e.certification_id), '[]')
                   FROM (SELECT certification_id, code, contact_id, expires_on
                         FROM certifications, p WHERE partner_id = p.id
                           AND expired_on IS NULL
                           AND expires_on BETWEEN current_date AND current_date
                                                  + CAST(:certification_days AS integer)
                         ORDER BY expires_on, certification_id LIMIT 50) e),
      'as_of', max(as_of))
   FROM certifications, p WHERE partner_id = p.id) AS certifications,
  (SELECT json_build_object(
      'open', count(*) FILTER (WHERE status IN {OPEN_DEALS}),
      'by_status', (SELECT coalesce(json_object_agg(status, n), '{{}}')
                    FROM (SELECT status, count(*) AS n FROM deals, p WHERE partner_id = p.id
                          GROUP BY status) s),
      'pipeline', (SELECT coalesce(json_agg(json_build_object('amount', total::text,
                                                              'currency', currency)
                                            ORDER BY currency), '[]')
                   FROM (SELECT currency, sum(amount) AS total FROM deals, p
                         WHERE partner_id = p.id AND status IN {OPEN_DEALS}
                           AND amount IS NOT NULL GROUP BY currency) s),
      'protection_ending', (SELECT coalesce(json_agg(e ORDER BY e.protected_until, e.deal_id),
                                            '[]')
                            FROM (SELECT deal_id, customer_name, status, protected_until,
                                         protected_until - current_date AS days_left
                                  FROM deals, p WHERE partner_id = p.id
                                    AND status IN {OPEN_DEALS}
                                    AND protected_until BETWEEN current_date AND current_date
                                        + CAST(:protection_days AS integer)
                                  ORDER BY protected_until, deal_id LIMIT 50) e),
      'as_of', max(as_of))
   FROM deals, p WHERE partner_id = p.id) AS deals,
  (SELECT json_build_object(
      'allocated', (SELECT coalesce(json_agg(json_build_object('amount', total::text,
                                                               'currency', currency)
                                             ORDER BY currency), '[]')
                    FROM (SELECT currency, sum(amount) AS total FROM mdf_allocations, p
                          WHERE partner_id = p.id GROUP BY currency) s),
      'used', (SELECT coalesce(json_agg(json_build_object('amount', total::text,
                                                          'currency', currency)), '[]')
               FROM (SELECT currency, sum(used) AS total FROM (
                       SELECT r.currency, r.planned AS used FROM mdf_requests r, p
                       WHERE r.partner_id = p.id AND r.status IN {_RESERVING}
                         AND NOT EXISTS (SELECT 1 FROM mdf_claims c
                                         WHERE c.request_id = r.request_id
                                           AND c.status IN ('approved', 'rejected'))
                       UNION ALL
                       SELECT c.currency, c.approved FROM mdf_claims c, p
                       WHERE c.partner_id = p.id AND c.status = 'approved') u
                     GROUP BY currency) s),
      'requests_awaiting_decision', (SELECT count(*) FROM mdf_requests, p
                                     WHERE partner_id = p.id AND status = 'submitted'),
      'requests_sent_back', (SELECT count(*) FROM mdf_requests, p
                             WHERE partner_id = p.id AND status = 'changes_requested'),
      'claims_awaiting_decision', (SELECT count(*) FROM mdf_claims, p
                                   WHERE partner_id = p.id AND status = 'submitted'),
      'as_of', (SELECT max(as_of) FROM (
                  SELECT as_of FROM mdf_allocations, p WHERE partner_id = p.id
                  UNION ALL SELECT as_of FROM mdf_requests, p WHERE partner_id = p.id
                  UNION ALL SELECT as_of FROM mdf_claims, p WHERE partner_id = p.id) a))
  ) AS mdf,
  (SELECT json_build_object(
      'earned', (SELECT coalesce(json_agg(json_build_object('amount', total::text,
                                                            'currency', currency)
                                          ORDER BY currency), '[]')
                 FROM (SELECT currency, sum(CASE movement WHEN 'accrued' THEN amount
                                                 ELSE -amount END) AS total
                       FROM accruals, p WHERE partner_id = p.id GROUP BY currency) s),
      'as_of', max(as_of))
   FROM accruals, p WHERE partner_id = p.id) AS accruals,
  (SELECT json_build_object(
      'last', (SELECT row_to_json(b) FROM (
                 SELECT batch_id, status, total::text AS total, currency, period_from,
                        period_to, paid_on, payment_reference
                 FROM payouts, p WHERE partner_id = p.id AND status = 'paid'
                 ORDER BY paid_on DESC NULLS LAST, period_to DESC, batch_id DESC LIMIT 1) b),
      'next', (SELECT row_to_json(b) FROM (
                 SELECT batch_id, status, total::text AS total, currency, period_from,
                        period_to, paid_on, payment_reference
                 FROM payouts, p WHERE partner_id = p.id AND status IN ('approved', 'exported')
                 ORDER BY period_to, batch_id LIMIT 1) b),
      'as_of', max(as_of))
   FROM payouts, p WHERE partner_id = p.id) AS payouts
""")


def _sums(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"amount": _money(r["amount"], r["currency"]), "currency": r["currency"]}
            for r in rows]


def _money(amount: str, currency: str) -> str:
    try:
        return format_amount(Decimal(amount), currency)
    except ValueError:  # a currency without minor units: as summed
        return amount


def _payout(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    total = {"amount": _money(row.pop("total"), row["currency"]), "currency": row["currency"]}
    return {**row, "total": total}


def _available(mdf: dict[str, Any]) -> list[dict[str, str]]:
    left = {r["currency"]: Decimal(r["amount"]) for r in mdf["allocated"]}
    for used in mdf["used"]:
        left[used["currency"]] = left.get(used["currency"], Decimal(0)) - Decimal(used["amount"])
    return _sums([{"amount": str(v), "currency": c} for c, v in sorted(left.items())])


def _latest(*times: Any) -> Any:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _tier(change: dict[str, Any] | None, card: dict[str, Any] | None,
          progress: dict[str, Any] | None) -> dict[str, Any]:
    """The last change, and where the partner stands towards the next tier."""
    tier = change or {"current": (card or {}).get("tier"), "previous": None, "direction": None,
                      "criteria": {}, "reason": None, "changed_at": None, "as_of": None}
    if progress is None:
        return {**tier, "next_tier": None, "shortfalls": [], "evaluated_on": None}
    said = progress["progress"]
    return {**tier, "current": said.get("tier", tier["current"]),
            "criteria": said.get("criteria") or tier["criteria"],
            "next_tier": said.get("next_tier"), "shortfalls": said.get("shortfalls") or [],
            "evaluated_on": said.get("evaluated_on"),
            "as_of": _latest(tier["as_of"], progress["as_of"])}


def _onboarding(done: dict[str, Any] | None, progress: dict[str, Any] | None
                ) -> dict[str, Any]:
    section = done or {"completed": False, "completed_at": None, "as_of": None}
    if progress is None:
        return {**section, "tasks_total": None, "tasks_done": None, "tasks_due": []}
    said = progress["progress"]
    return {**section, "tasks_total": said.get("tasks_total"),
            "tasks_done": said.get("tasks_done"), "tasks_due": said.get("tasks_due") or [],
            "as_of": _latest(section["as_of"], progress["as_of"])}


def target_partner(principal: Principal, partner_id: uuid.UUID | None) -> uuid.UUID:
    """A partner's own home, or the named partner's for vendor staff."""
    if principal.is_partner:
        assert principal.partner_id is not None
        if partner_id is not None and partner_id != principal.partner_id:
            raise NotFound("partner not found")
        return principal.partner_id
    if partner_id is None:
        raise Unprocessable("vendor staff name the partner whose home to show", errors=[
            {"location": "query", "field": "partner_id", "message": "required for vendor "
             "credentials"}])
    return partner_id


async def home(session: AsyncSession, principal: Principal, partner_id: uuid.UUID | None,
               *, protection_days: int, certification_days: int) -> PartnerHome:
    principal.require(PORTAL_READ)
    target = target_partner(principal, partner_id)
    row = (await session.execute(_HOME, {
        "partner_id": target, "protection_days": protection_days,
        "certification_days": certification_days})).mappings().one()
    found = {key: (orjson.loads(value) if isinstance(value, str) else value)
             for key, value in row.items()}
    if found["partner"] is None and found["deals"]["as_of"] is None:
        raise NotFound("partner not found")
    partners = principal.has_scope(PARTNERS_READ)
    tier = _tier(found["tier"], found["partner"], found["tier_progress"])
    onboarding = _onboarding(found["onboarding"], found["onboarding_progress"])
    deals = found["deals"]
    deals["pipeline"] = _sums(deals["pipeline"])
    mdf = found["mdf"]
    mdf["allocated"], mdf["available"] = _sums(mdf["allocated"]), _available(mdf)
    accruals = found["accruals"]
    accruals["earned"] = _sums(accruals["earned"])
    payouts = found["payouts"]
    payouts["last"], payouts["next"] = _payout(payouts["last"]), _payout(payouts["next"])
    incentives = principal.has_scope(INCENTIVES_READ)
    return PartnerHome(
        partner_id=target,
        partner=found["partner"] if partners else None,
        tier=tier if partners else None,
        onboarding=onboarding if partners else None,
        certifications=found["certifications"] if partners else None,
        deals=deals if principal.has_scope(DEALS_READ) else None,
        mdf=mdf if incentives else None,
        accruals=accruals if incentives else None,
        payouts=payouts if incentives else None,
    )
