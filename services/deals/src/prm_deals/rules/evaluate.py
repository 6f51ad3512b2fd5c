"""How a new registration is decided: first come, first served on a true conflict, then the
vendor's rules of engagement in order (the first whose conditions all hold fires), then the
default (a conflict goes to review, anything else is submitted). Pure functions: the same
inputs always give the same decision, which the dry run shows step by step."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prm_deals.matching.conflicts import TRUE_CONFLICT, Conflict
from prm_deals.registrations.schemas import DealRegistration

STATUS_OF = {"approve": "approved", "reject": "rejected", "review": "in_review"}


@dataclass(frozen=True)
class Facts:
    """What the rules may look at."""

    partner_tier: str | None
    partner_type: str | None
    country: str
    deal_type: str
    skus: frozenset[str]
    amount: Decimal
    currency: str
    private_offer: bool


@dataclass
class Decided:
    status: str
    reason: str | None
    rule: dict[str, Any] | None = None  # {"id", "name", "version"} of the rule that fired
    protection_days: int | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """As stored with the registration and shown to the partner."""
        return {"outcome": self.status, "reason": self.reason, "rule": self.rule}


def _money(value: dict[str, Any]) -> tuple[Decimal, str]:
    return Decimal(value["amount"]), value["currency"]


def unmet(conditions: dict[str, Any], facts: Facts, others: list[Conflict]) -> list[str]:
    """The conditions that do not hold, in words (none: the rule fires)."""
    failed = []

    def among(name: str, value: str | None, label: str) -> None:
        wanted = conditions.get(name)
        if wanted is not None and value not in wanted:
            failed.append(f"{label} {value or 'none'} is not one of {', '.join(wanted)}")

    among("partner_tiers", facts.partner_tier, "partner tier")
    among("partner_types", facts.partner_type, "partner type")
    among("countries", facts.country, "customer country")
    among("deal_types", facts.deal_type, "deal type")
    skus = conditions.get("products")
    if skus is not None and not facts.skus & set(skus):
        failed.append(f"no product among {', '.join(skus)}")
    for name, below in (("amount_at_least", False), ("amount_below", True)):
        if conditions.get(name) is not None:
            bound, currency = _money(conditions[name])
            if currency != facts.currency:
                failed.append(f"the deal is in {facts.currency}, the bound in {currency}")
            elif below and not facts.amount < bound:
                failed.append(f"amount {facts.amount} is not below {bound}")
            elif not below and not facts.amount >= bound:
                failed.append(f"amount {facts.amount} is below {bound}")
    if conditions.get("private_offer") is not None \
            and conditions["private_offer"] != facts.private_offer:
        failed.append("private offer" if facts.private_offer else "not a private offer")
    kinds = {c.kind for c in others}
    wanted_conflict = conditions.get("conflict")
    found = {"none": not kinds, "any": bool(kinds), "registration": "registration" in kinds,
             "direct_account": "direct_account" in kinds}
    if wanted_conflict is not None and not found[wanted_conflict]:
        failed.append(f"conflict is not {wanted_conflict}")
    least = conditions.get("conflict_score_at_least")
    best = max((c.score for c in others), default=0.0)
    if least is not None and best < least:
        failed.append(f"best conflict score {best:.2f} is below {least:.2f}")
    return failed


def facts_of(data: DealRegistration, partner: dict[str, Any] | None) -> Facts:
    return Facts(partner_tier=(partner or {}).get("tier"), partner_type=(partner or {}).get("type"),
                 country=data.customer.country, deal_type=data.deal_type.value,
                 skus=frozenset(p.sku for p in data.products), amount=data.amount.value,
                 currency=data.amount.currency, private_offer=data.private_offer)


def decide(partner_id: uuid.UUID | None, found: list[Conflict], facts: Facts | None = None,
           rules: Sequence[dict[str, Any]] = ()) -> Decided:
    """``rules``: the enabled rules in order, each with ``id``, ``name``, ``version``,
    ``conditions``, ``outcome``, ``reason`` and ``protection_days``."""
    others = [c for c in found if c.kind == "direct_account" or c.partner_id != partner_id]
    first = sorted((c for c in others if c.kind == "registration" and c.score >= TRUE_CONFLICT),
                   key=lambda c: c.registered_at or dt.datetime.max.replace(tzinfo=dt.UTC))
    if first:
        earlier = first[0]
        assert earlier.registered_at is not None and earlier.protected_until is not None
        return Decided("rejected", "another partner registered this customer first, on "
                       f"{earlier.registered_at.date().isoformat()}; that registration is "
                       f"protected until {earlier.protected_until.isoformat()}")
    trace = []
    for rule in rules:
        failed = unmet(rule["conditions"], facts, others) if facts is not None else ["no facts"]
        ref = {"id": str(rule["id"]), "name": rule["name"], "version": rule["version"]}
        trace.append({**ref, "fired": not failed, "failed": failed})
        if not failed:
            return Decided(STATUS_OF[rule["outcome"]],
                           rule["reason"] or f"rule of engagement: {rule['name']}", ref,
                           rule["protection_days"], trace)
    if any(c.kind == "direct_account" for c in others):
        return Decided("in_review", "the customer is a named account of the vendor: the "
                       "channel team decides", trace=trace)
    if others:
        return Decided("in_review", "a possible match with another partner's registration: "
                       "the channel team decides", trace=trace)
    return Decided("submitted", None, trace=trace)
