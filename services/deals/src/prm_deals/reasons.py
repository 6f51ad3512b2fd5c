"""The reasons the deal desk gives, each as a stable ``code`` with its ``params`` beside the
English ``text``: a portal translates the code and fills in the params, and falls back on the
text where it has no translation. A code is never renamed nor given another meaning; a new
kind of reason gets a new code. ``CODES`` is the catalogue (docs/deal-registration.md lists
it): every reason the service produces is made here, by ``reason``, so its text always follows
from its code and params.

Registrations stored before codes existed carry only the English text: ``parse_conflict`` and
``parse_decision`` read the code and params back from it (the texts were made by the same
templates), so every registration answers with codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# How two names were found alike (the ``method`` param of ``name_match``/``alias_match``).
NAME_METHODS = {
    "same_name": "same name",
    "same_name_but_spacing": "same name but for spacing",
    "same_distinctive_words": "same distinctive words",
    "same_pronunciation": "same name as pronounced",
    "similar_names": "similar names",
    "similar_common_words": "similar common words",
    "begins_with_other": "one name begins with the other",
    "initials": "initials of the other's words",
    "no_name": "no name to compare",
}
_METHOD_OF_TEXT = {text: code for code, text in NAME_METHODS.items()}

# The rule conditions that take a list of allowed values, as the trace words them.
CONDITION_LABELS = {"partner_tiers": "partner tier", "partner_types": "partner type",
                    "countries": "customer country", "deal_types": "deal type"}


@dataclass(frozen=True)
class Code:
    where: str  # conflict, decision or rule_trace: the field that carries it
    params: tuple[str, ...]
    meaning: str  # for the catalogue in the docs


CODES: dict[str, Code] = {
    # A conflict's reasons (`conflicts[].reason_codes`), in the order of `conflicts[].reasons`.
    "same_domain": Code("conflict", ("domain",),
                        "Both have this registrable domain (decides alone)."),
    "name_match": Code("conflict", ("score", "method", "name", "matched"),
                       "The names, after normalisation, match with this score (0..1), found "
                       "alike by `method`."),
    "alias_match": Code("conflict", ("score", "method", "name", "matched"),
                        "The name matches an alias of the vendor's direct account."),
    "same_country": Code("conflict", ("country",), "Both are in this country."),
    "different_country": Code("conflict", ("country", "other_country"),
                              "Different countries: a name alone counts less."),
    "earlier_in_batch": Code("conflict", ("item",),
                             "A registration made earlier in the same bulk push (its index)."),
    "named_account": Code("conflict", (),
                          "A named account of the vendor (what a partner key sees of a direct "
                          "account)."),
    # A decision (`decision.code`).
    "no_conflict": Code("decision", (),
                        "`submitted`: nothing of another partner or the vendor conflicts (the "
                        "reason is null)."),
    "registered_first": Code("decision", ("registered_on", "protected_until"),
                             "`rejected`: another partner registered the customer first; its "
                             "registration is protected until the given date."),
    "engagement_rule": Code("decision", ("rule",),
                            "A rule of engagement without a reason of its own decided."),
    "engagement_rule_reason": Code("decision", ("rule", "reason"),
                                   "A rule of engagement decided, with the reason the vendor "
                                   "wrote for it (free text, shown as written)."),
    "named_account_review": Code("decision", (),
                                 "`in_review`: the customer is a named account of the vendor."),
    "possible_match_review": Code("decision", (),
                                  "`in_review`: a possible match with another partner's "
                                  "registration."),
    # A condition of a rule that did not hold (`rules[].failed_codes` of the dry run).
    "not_one_of": Code("rule_trace", ("condition", "value", "allowed"),
                       "The value (null when unknown) is not among the condition's "
                       "(`partner_tiers`, `partner_types`, `countries`, `deal_types`)."),
    "no_product_among": Code("rule_trace", ("products",), "None of these SKUs is sold."),
    "bound_in_other_currency": Code("rule_trace", ("condition", "currency", "bound_currency"),
                                    "The amount bound is in another currency than the deal."),
    "amount_too_low": Code("rule_trace", ("amount", "bound", "currency"),
                           "`amount_at_least`: the amount is below the bound."),
    "amount_too_high": Code("rule_trace", ("amount", "bound", "currency"),
                            "`amount_below`: the amount is not below the bound."),
    "private_offer": Code("rule_trace", (), "The rule wants no private offer; this is one."),
    "not_private_offer": Code("rule_trace", (),
                              "The rule wants a private offer; this is not one."),
    "conflict_not": Code("rule_trace", ("wanted",),
                         "What the conflict check found is not `wanted`."),
    "conflict_score_too_low": Code("rule_trace", ("score", "at_least"),
                                   "The best conflict score is below the rule's."),
    "no_facts": Code("rule_trace", (), "Nothing to evaluate the rule on."),
    # Why the status last changed (`status_reason_code`).
    "stated": Code("status_reason", ("reason",),
                   "A person's reason (the vendor's or the partner's: a rejection's, a loss's, a "
                   "reversed win's...), shown as written."),
    "protection_ended": Code("status_reason", (), "`expired`: the protection period ended."),
    "chosen_over_conflicts": Code("status_reason", (),
                                  "`approved` by the channel team's resolution of a conflict, "
                                  "with no reason of its own."),
    "another_registration_chosen": Code("status_reason", ("deal_id", "note"),
                                        "`rejected`: the channel team chose another partner's "
                                        "registration of the customer (`deal_id`); `note` is "
                                        "its reason, or null."),
}


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict[str, Any]
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params, "text": self.text}


def _text(code: str, p: dict[str, Any]) -> str:  # noqa: PLR0911 - one template per code
    match code:
        case "same_domain":
            return f"same registrable domain: {p['domain']}"
        case "name_match" | "alias_match":
            word = "name match" if code == "name_match" else "alias match"
            return (f"{word} {p['score']:.2f} after normalisation ({NAME_METHODS[p['method']]}):"
                    f' "{p["name"]}" = "{p["matched"]}"')
        case "same_country":
            return f"same country: {p['country']}"
        case "different_country":
            return f"different country: {p['country']} / {p['other_country']}"
        case "earlier_in_batch":
            return f"registered earlier in this batch (item {p['item']})"
        case "named_account":
            return "the customer is a named account of the vendor"
        case "no_conflict":
            return ""
        case "registered_first":
            return (f"another partner registered this customer first, on {p['registered_on']}; "
                    f"that registration is protected until {p['protected_until']}")
        case "engagement_rule":
            return f"rule of engagement: {p['rule']}"
        case "engagement_rule_reason":
            return str(p["reason"])
        case "named_account_review":
            return "the customer is a named account of the vendor: the channel team decides"
        case "possible_match_review":
            return ("a possible match with another partner's registration: the channel team "
                    "decides")
        case "not_one_of":
            return (f"{CONDITION_LABELS[p['condition']]} {p['value'] or 'none'} is not one of "
                    f"{', '.join(p['allowed'])}")
        case "no_product_among":
            return f"no product among {', '.join(p['products'])}"
        case "bound_in_other_currency":
            return f"the deal is in {p['currency']}, the bound in {p['bound_currency']}"
        case "amount_too_low":
            return f"amount {p['amount']} is below {p['bound']}"
        case "amount_too_high":
            return f"amount {p['amount']} is not below {p['bound']}"
        case "private_offer":
            return "private offer"
        case "not_private_offer":
            return "not a private offer"
        case "conflict_not":
            return f"conflict is not {p['wanted']}"
        case "conflict_score_too_low":
            return f"best conflict score {p['score']:.2f} is below {p['at_least']:.2f}"
        case "no_facts":
            return "no facts"
        case "stated":
            return str(p["reason"])
        case "protection_ended":
            return "the protection period ended"
        case "chosen_over_conflicts":
            return "chosen by the channel team over conflicting registrations"
        case "another_registration_chosen":
            return ("the channel team chose another partner's registration of this customer "
                    f"({p['deal_id']})" + (f": {p['note']}" if p["note"] else ""))
    raise KeyError(code)


def reason(code: str, **params: Any) -> Reason:
    """The reason ``code`` with ``params`` (exactly the catalogue's), and its English text."""
    expected = CODES[code].params
    if set(params) != set(expected):
        raise TypeError(f"{code} takes {expected}, not {sorted(params)}")
    return Reason(code, params, _text(code, params))


# Reading back the texts stored before codes existed.
_NAME = re.compile(r'^(name|alias) match ([0-9.]+) after normalisation \((.+?)\): '
                   r'"(.*)" = "(.*)"$')
_FIRST = re.compile(r"^another partner registered this customer first, on (\S+); that "
                    r"registration is protected until (\S+)$")


def parse_conflict(text: str) -> Reason:
    """A conflict's reason as stored before codes: its code and params from its text."""
    if text.startswith("same registrable domain: "):
        return reason("same_domain", domain=text.removeprefix("same registrable domain: "))
    if (found := _NAME.match(text)) and found[3] in _METHOD_OF_TEXT:
        return reason(f"{found[1]}_match", score=float(found[2]),
                      method=_METHOD_OF_TEXT[found[3]], name=found[4], matched=found[5])
    if text.startswith("same country: "):
        return reason("same_country", country=text.removeprefix("same country: "))
    if text.startswith("different country: "):
        country, _, other = text.removeprefix("different country: ").partition(" / ")
        return reason("different_country", country=country, other_country=other)
    if found := re.fullmatch(r"registered earlier in this batch \(item (\d+)\)", text):
        return reason("earlier_in_batch", item=int(found[1]))
    if text == _text("named_account", {}):
        return reason("named_account")
    raise ValueError(f"not a conflict reason of the deal desk: {text!r}")


def conflict_reasons(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored conflict's coded reasons: as stored, or read back from its texts."""
    if "reason_codes" in stored:
        return list(stored["reason_codes"])
    return [parse_conflict(text).as_json() for text in stored.get("reasons", [])]


def parse_decision(stored: dict[str, Any]) -> Reason:
    """A decision as stored before codes: its code and params from its reason and rule."""
    text, rule = stored.get("reason"), stored.get("rule")
    if rule is not None:
        if text == _text("engagement_rule", {"rule": rule["name"]}):
            return reason("engagement_rule", rule=rule["name"])
        return reason("engagement_rule_reason", rule=rule["name"], reason=text)
    if text is None:
        return reason("no_conflict")
    if found := _FIRST.match(text):
        return reason("registered_first", registered_on=found[1], protected_until=found[2])
    for code in ("named_account_review", "possible_match_review"):
        if text == _text(code, {}):
            return reason(code)
    raise ValueError(f"not a decision reason of the deal desk: {text!r}")


def decision_of(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored decision with its code and params (read back from its text if it has none)."""
    if "code" in stored:
        return stored
    coded = parse_decision(stored)
    return {**stored, "code": coded.code, "params": coded.params}


_CHOSEN = re.compile(r"^the channel team chose another partner's registration of this customer "
                     r"\(([0-9a-f-]{36})\)(?:: (.*))?$", re.DOTALL)


def status_reason_of(status: str, text: str | None) -> Reason | None:
    """Why a deal's status last changed, coded: what the service wrote itself (expiry, a
    conflict resolved) by its code, anything else as a person's reason (``stated``)."""
    if text is None:
        return None
    if status == "expired" and text == _text("protection_ended", {}):
        return reason("protection_ended")
    if status == "approved" and text == _text("chosen_over_conflicts", {}):
        return reason("chosen_over_conflicts")
    if status == "rejected" and (found := _CHOSEN.match(text)):
        return reason("another_registration_chosen", deal_id=found[1], note=found[2])
    return reason("stated", reason=text)
