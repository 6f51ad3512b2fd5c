"""Every model for one deal: its touches in, each partner's exact share and credit in minor
units out, with the role (sourced or influenced) the rules give it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from prm_attribution.crediting import positional as p
from prm_attribution.crediting.allocation import Claimant, largest_remainder, normalise
from prm_attribution.crediting.datadriven import History, Journey, restrict, shapley_values
from prm_attribution.rules.schemas import AttributionRulesDocument

MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "w_shaped",
          "custom_weights", "markov", "shapley")


@dataclass(frozen=True)
class DealFacts:
    amount_minor: int
    approved: bool
    closed_on: dt.date | None  # a won deal's close: time decay counts back from its end


@dataclass(frozen=True)
class PartnerCredit:
    share: Fraction
    credit_minor: int
    role: str


@dataclass
class ModelResult:
    credits: dict[uuid.UUID, PartnerCredit]
    details: dict[str, Any] = field(default_factory=dict)


def roles(touches: Sequence[p.Touch], facts: DealFacts, rules: AttributionRulesDocument
          ) -> dict[uuid.UUID, str]:
    sourcing = set(rules.sourcing.touch_kinds)
    may_source = facts.approved or not rules.sourcing.requires_approval
    found = {t.partner_id: "influenced" for t in touches}
    for touch in touches:
        if may_source and touch.kind in sourcing:
            found[touch.partner_id] = "sourced"
    return found


def _reference(touches: Sequence[p.Touch], facts: DealFacts) -> dt.datetime:
    """Time decay counts ages back from the end of a won deal's close day (its close is a
    date: the end of that day, UTC, is after every touch of the day); an open deal's from
    its last touch."""
    if facts.closed_on is not None:
        return dt.datetime.combine(facts.closed_on + dt.timedelta(days=1), dt.time(),
                                   tzinfo=dt.UTC)
    return touches[-1].occurred_at


def fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def markov_weights(past: History, names: list[str], rules: AttributionRulesDocument
            ) -> tuple[dict[str, Fraction], dict[str, Any]]:
    if rules.markov_chain == "deal":
        journeys = [Journey(path, j.won) for path, j in zip(
            restrict([j.path for j in past.journeys], set(names)), past.journeys, strict=True)]
        past = History(journeys)
    solution = past.markov(rules.markov_exact_up_to, names)
    effects = {n: solution.effects.get(n, Fraction(0)) for n in names}
    details: dict[str, Any] = {
        "chain": rules.markov_chain, "history_deals": len(past.journeys),
        "chain_states": solution.states, "largest_cycle_group": solution.largest_cycle_group,
        "exact": solution.exact, "conversion_probability": fraction_text(solution.conversion),
        "removal_effects": {n: fraction_text(effects[n]) for n in names}}
    if solution.error_bound is not None:
        details["error_bound"] = f"{solution.error_bound:.3E}"
        details["propagation_steps"] = solution.steps
    return effects, details


def shapley_weights(past: History, names: list[str], rules: AttributionRulesDocument
             ) -> tuple[dict[str, Fraction], dict[str, Any]]:
    if rules.shapley_game == "deal":
        values = shapley_values(past.journeys, among=set(names))
    else:
        values = past.shapley()
    found = {n: values.get(n, Fraction(0)) for n in names}
    return found, {"game": rules.shapley_game, "history_deals": len(past.journeys),
                   "won_deals": past.wins, "exact": True,
                   "wins_explained": fraction_text(sum(found.values(), Fraction(0))),
                   "values": {n: fraction_text(v) for n, v in found.items()}}


def compute(touches: Sequence[p.Touch], facts: DealFacts, rules: AttributionRulesDocument,
            history: Sequence[tuple[Sequence[str], bool]] | History) -> dict[str, ModelResult]:
    """``touches`` of the deal (any order); ``history``: the partners (ids as text) of each
    closed deal in touch order and whether it was won (or a ``History`` of them). No touches,
    no results."""
    if not touches:
        return {}
    ordered = p.ordered(touches)
    role = roles(ordered, facts, rules)
    first_at: dict[uuid.UUID, dt.datetime] = {}
    for touch in ordered:
        first_at.setdefault(touch.partner_id, touch.occurred_at)
    partners = list(first_at)  # in order of first touch
    weights: dict[str, dict[uuid.UUID, Fraction]] = {}
    details: dict[str, dict[str, Any]] = {m: {} for m in MODELS}
    per_touch = {
        "first_touch": p.first_touch(ordered),
        "last_touch": p.last_touch(ordered),
        "linear": p.linear(ordered),
        "time_decay": p.time_decay(ordered, _reference(ordered, facts),
                                   rules.time_decay_half_life_days),
        "position_based": p.position_based(ordered),
        "w_shaped": p.w_shaped(ordered),
        "custom_weights": p.custom_weights(ordered, rules.custom_kind_weights,
                                           rules.custom_default_weight),
    }
    for model, touch_weights in per_touch.items():
        weights[model] = p.by_partner(ordered, touch_weights)
    details["time_decay"]["half_life_days"] = str(rules.time_decay_half_life_days)

    names = [str(pid) for pid in partners]
    past = history if isinstance(history, History) else History.of(history)
    for model, solve in (("markov", markov_weights), ("shapley", shapley_weights)):
        by_name, details[model] = solve(past, names, rules)
        weights[model] = {pid: by_name[str(pid)] for pid in partners}
    results = {}
    for model in MODELS:
        model_weights = weights[model]
        if sum(model_weights.values()) == 0:
            details[model]["fallback"] = "even split: the model gave no partner any weight"
        shares = normalise(model_weights)
        credits = largest_remainder(facts.amount_minor, [
            Claimant(pid, shares[pid], first_at[pid]) for pid in partners])
        results[model] = ModelResult(
            {pid: PartnerCredit(shares[pid], credits[pid], role[pid]) for pid in partners},
            details[model])
    return results
