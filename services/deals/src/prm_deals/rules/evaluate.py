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
from prm_deals.reasons import Reason, reason
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
    why: Reason  # its code and params; the English text is the decision's reason
    rule: dict[str, Any] | None = None  # {"id", "name", "version"} of the rule that fired
    protection_days: int | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reason(self) -> str | None:
        return self.why.text or None  # a registration submitted needs no reason

    def record(self) -> dict[str, Any]:
        """As stored with the registration and shown to the partner."""
        return {"outcome": self.status, "reason": self.reason, "code": self.why.code,
                "params": self.why.params, "rule": self.rule}


def _money(value: dict[str, Any]) -> tuple[Decimal, str]:
    return Decimal(value["amount"]), value["currency"]


def unmet(conditions: dict[str, Any], facts: Facts, others: list[Conflict]) -> list[Reason]:
    """The conditions that do not hold, each a coded reason (none: the rule fires)."""
    failed = []

    def among(name: str, value: str | None) -> None:
        wanted = conditions.get(name)
        if wanted is not None and value not in wanted:
            failed.append(reason("not_one_of", condition=name, value=value,
                                 allowed=list(wanted)))

    among("partner_tiers", facts.partner_tier)
    among("partner_types", facts.partner_type)
    among("countries", facts.country)
    among("deal_types", facts.deal_type)
    skus = conditions.get("products")
    if skus is not None and not facts.skus & set(skus):
        failed.append(reason("no_product_among", products=list(skus)))
    for name, below in (("amount_at_least", False), ("amount_below", True)):
        if conditions.get(name) is not None:
            bound, currency = _money(conditions[name])
            amounts = {"amount": str(facts.amount), "bound": str(bound), "currency": currency}
            if currency != facts.currency:
                failed.append(reason("bound_in_other_currency", condition=name,
                                     currency=facts.currency, bound_currency=currency))
            elif below and not facts.amount < bound:
                failed.append(reason("amount_too_high", **amounts))
            elif not below and not facts.amount >= bound:
                failed.append(reason("amount_too_low", **amounts))
    if conditions.get("private_offer") is not None \
            and conditions["private_offer"] != facts.private_offer:
        failed.append(reason("private_offer" if facts.private_offer else "not_private_offer"))
    kinds = {c.kind for c in others}
    wanted_conflict = conditions.get("conflict")
    found = {"none": not kinds, "any": bool(kinds), "registration": "registration" in kinds,
             "direct_account": "direct_account" in kinds}
    if wanted_conflict is not None and not found[wanted_conflict]:
        failed.append(reason("conflict_not", wanted=wanted_conflict))
    least = conditions.get("conflict_score_at_least")
    best = max((c.score for c in others), default=0.0)
    if least is not None and best < least:
        failed.append(reason("conflict_score_too_low", score=best, at_least=least))
    return failed


def rule_reason(rule: dict[str, Any]) -> Reason:
    """Why a rule of engagement decided: the vendor's reason for it, or its name."""
    if rule["reason"]:
        return reason("engagement_rule_reason", rule=rule["name"], reason=rule["reason"])
    return reason("engagement_rule", rule=rule["name"])


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
        return Decided("rejected", reason(
            "registered_first", registered_on=earlier.registered_at.date().isoformat(),
            protected_until=earlier.protected_until.isoformat()))
    trace = []
    for rule in rules:
        failed = unmet(rule["conditions"], facts, others) if facts is not None \
            else [reason("no_facts")]
        ref = {"id": str(rule["id"]), "name": rule["name"], "version": rule["version"]}
        trace.append({**ref, "fired": not failed, "failed": [f.text for f in failed],
                      "failed_codes": [f.as_json() for f in failed]})
        if not failed:
            return Decided(STATUS_OF[rule["outcome"]], rule_reason(rule), ref,
                           rule["protection_days"], trace)
    if any(c.kind == "direct_account" for c in others):
        return Decided("in_review", reason("named_account_review"), trace=trace)
    if others:
        return Decided("in_review", reason("possible_match_review"), trace=trace)
    return Decided("submitted", reason("no_conflict"), trace=trace)
