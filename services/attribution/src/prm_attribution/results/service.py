"""Computing and keeping a deal's attribution, and reading it back.

A deal is recomputed, under the newest rules version, whenever something it depends on
changes: a touch (from an event or the API), its amount, its approval, its close. The rows of
that rules version are replaced only when a credit, a share, the amount or the basis changed,
and only then is ``prm.attribution.computed.v1`` published, so a redelivered or replayed event
publishes nothing. Results of earlier rules versions are never touched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.config import EVENT_SOURCE
from prm_attribution.crediting.compute import DealFacts, compute, fraction_text
from prm_attribution.crediting.datadriven import History
from prm_attribution.crediting.positional import Touch
from prm_attribution.rules.schemas import AttributionRulesDocument
from prm_contracts import Amount, AttributionComputedV1, AttributionCredit
from prm_events import outbox
from prm_platform.money import minor_units

OPEN_STATUSES = ("submitted", "in_review", "approved", "registered")
# A deal's touches are bounded: beyond this many (oldest first), later ones are not counted.
MAX_TOUCHES = 1000

# The deal's own touches, and the touches recorded for its customer (by domain) before its
# close: both count for it.
_TOUCHES = text("""
    SELECT t.id, t.partner_id, t.kind, t.occurred_at FROM touchpoints t, deals d
    WHERE d.deal_id = :deal AND (t.deal_id = d.deal_id OR (
        t.deal_id IS NULL AND t.customer_domain = d.customer_domain
        AND (d.closed_on IS NULL OR t.occurred_at < d.closed_on + 1)))
    ORDER BY t.occurred_at, t.id LIMIT :limit
""")
_HISTORY = text("""
    WITH closed AS (
        SELECT deal_id, customer_domain, closed_on, status = 'won' AS won FROM deals
        WHERE status IN ('won', 'lost') AND closed_on IS NOT NULL
        ORDER BY closed_on DESC, deal_id DESC LIMIT :limit)
    SELECT c.deal_id, c.won, t.partner_id FROM closed c JOIN touchpoints t
      ON t.deal_id = c.deal_id OR (t.deal_id IS NULL AND t.customer_domain = c.customer_domain
                                   AND t.occurred_at < c.closed_on + 1)
    ORDER BY c.deal_id, t.occurred_at, t.id
""")


async def current_rules(session: AsyncSession) -> tuple[int, AttributionRulesDocument]:
    row = (await session.execute(text(
        "SELECT version, rules FROM attribution_rules ORDER BY version DESC LIMIT 1"))).one()
    return row.version, AttributionRulesDocument.model_validate(row.rules)


# The history as the data-driven models read it: each closed deal's partners (ids as text) in
# touch order and whether it was won, by deal id, in deal id order.
ClosedDeals = dict[uuid.UUID, tuple[list[str], bool]]


async def read_closed_deals(session: AsyncSession, limit: int) -> ClosedDeals:
    """The ``limit`` most recently closed deals with their partners in touch order."""
    closed: ClosedDeals = {}
    for row in await session.execute(_HISTORY, {"limit": limit}):
        closed.setdefault(row.deal_id, ([], row.won))[0].append(str(row.partner_id))
    return closed


async def read_history(session: AsyncSession) -> History:
    """The history the newest rules version's data-driven models learn from: read it once and
    pass it to ``recompute`` of each deal of a batch (recomputing changes no closed deal)."""
    _, rules = await current_rules(session)
    return History.of(list((await read_closed_deals(session, rules.history_deals)).values()))


def basis_of(status: str) -> str | None:
    if status == "won":
        return "won"
    return "pipeline" if status in OPEN_STATUSES else None


async def recompute(session: AsyncSession, deal_id: uuid.UUID, *,
                    history: History | None = None) -> bool:
    """Recompute one deal; True when its credits changed (and the event was published).

    ``history``: the closed deals as ``read_history`` gives them in the same transaction, for
    a caller recomputing many deals; read here when not given."""
    deal = (await session.execute(text(
        "SELECT * FROM deals WHERE deal_id = :deal FOR UPDATE"), {"deal": deal_id})).first()
    if deal is None or deal.amount is None or deal.currency is None:
        return False
    basis = basis_of(deal.status)
    if basis is None:  # lost, rejected, expired: the credits computed before stay as they were
        return False
    version, rules = await current_rules(session)
    touches = [Touch(r.id, r.partner_id, r.kind, r.occurred_at)
               for r in await session.execute(_TOUCHES, {"deal": deal_id,
                                                         "limit": MAX_TOUCHES})]
    amount_minor = int(deal.amount.scaleb(minor_units(deal.currency)))
    results = compute(touches, DealFacts(amount_minor, deal.approved,
                                         deal.closed_on if basis == "won" else None),
                      rules, history if history is not None else History.of(list(
                          (await read_closed_deals(session, rules.history_deals)).values())))
    if not results:
        return False
    wanted = {(model, pid): (c.role, fraction_text(c.share), c.credit_minor)
              for model, result in results.items() for pid, c in result.credits.items()}
    held_results = {(r.model, r.basis, r.amount_minor, r.currency) for r in await session.execute(
        text("SELECT model, basis, amount_minor, currency FROM attribution_results "
             "WHERE deal_id = :deal AND rules_version = :v"), {"deal": deal_id, "v": version})}
    held = {(r.model, r.partner_id): (r.role, r.share, r.credit_minor)
            for r in await session.execute(text(
                "SELECT model, partner_id, role, share, credit_minor FROM attribution_credits "
                "WHERE deal_id = :deal AND rules_version = :v"), {"deal": deal_id, "v": version})}
    if held == wanted and held_results == {(m, basis, amount_minor, deal.currency)
                                           for m in results}:
        return False
    params = {"deal": deal_id, "v": version}
    await session.execute(text("DELETE FROM attribution_credits WHERE deal_id = :deal "
                               "AND rules_version = :v"), params)
    await session.execute(text("DELETE FROM attribution_results WHERE deal_id = :deal "
                               "AND rules_version = :v"), params)
    now = dt.datetime.now(dt.UTC)
    await session.execute(text(
        "INSERT INTO attribution_results (deal_id, rules_version, model, basis, amount_minor, "
        "currency, details, computed_at) VALUES (:deal, :v, :model, :basis, :amount, "
        ":currency, CAST(:details AS jsonb), :now)"), [
            {**params, "model": model, "basis": basis, "amount": amount_minor,
             "currency": deal.currency, "details": _json(result.details), "now": now}
            for model, result in results.items()])
    await session.execute(text(
        "INSERT INTO attribution_credits (deal_id, rules_version, model, partner_id, role, "
        "share, credit_minor) VALUES (:deal, :v, :model, :partner, :role, :share, :credit)"), [
            {**params, "model": model, "partner": pid, "role": role, "share": share,
             "credit": credit} for (model, pid), (role, share, credit) in wanted.items()])
    revision = (await session.execute(text(
        "UPDATE deals SET attribution_revision = attribution_revision + 1, "
        "updated_at = statement_timestamp() WHERE deal_id = :deal "
        "RETURNING attribution_revision"), params)).scalar_one()
    digits = minor_units(deal.currency)
    await outbox.publish(session, AttributionComputedV1(
        deal_id=deal_id, basis=basis, rules_version=version, version=revision,
        deal_amount=Amount(amount=_major(amount_minor, digits), currency=deal.currency),
        credits=[AttributionCredit(model=model, partner_id=pid, role=role,
                                   amount=_major(credit, digits))
                 for (model, pid), (role, _, credit) in sorted(
                     wanted.items(), key=lambda item: (item[0][0], str(item[0][1])))]),
        source=EVENT_SOURCE, aggregate_id=deal_id)
    return True


def _major(minor: int, digits: int) -> str:
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


def _json(value: Any) -> str:
    import orjson
    return orjson.dumps(value).decode()
