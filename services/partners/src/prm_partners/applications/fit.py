"""The Ideal Partner Profile fit score: how well an applicant matches what the vendor looks for.

Each criterion has a weight and says what it wants of one field of the application; it scores
from 0 to 1 (a list field earns the share of the wanted values it has, or all of it with
``match: any`` once one is there; a number earns 1 inside its range). The score is the weighted
mean on 0..100, rounded half up, so that the same application and profile always give the same
whole number; each criterion gives the reason a reviewer reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from fractions import Fraction
from typing import Any, Literal


@dataclass(frozen=True)
class Criterion:
    field: str
    weight: int
    values: Sequence[str] = ()
    match: Literal["any", "all"] = "all"
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Scored:
    field: str
    weight: int
    points: Fraction  # 0..weight
    reason: str  # in English
    code: str = ""  # stable, one of REASON_CODES
    params: dict[str, Any] = dataclass_field(default_factory=dict)


# Every reason code, and the params it carries besides ``field``, ``points`` and ``weight``
# (docs/partner-programme.md lists them): a portal words them in its reader's language.
REASON_CODES = {
    "value_in": ("value", "wanted"),
    "value_not_in": ("value", "wanted"),
    "list_has_none": ("wanted",),
    "list_has": ("found",),
    "list_has_some": ("found", "wanted"),
    "value_missing": (),
    "range_inside": ("value", "minimum", "maximum"),
    "range_outside": ("value", "minimum", "maximum"),
}


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values)


def _score(criterion: Criterion, application: dict[str, Any]
           ) -> tuple[Fraction, str, dict[str, Any], str]:
    """The share earned, the reason's code and params, and the reason in English."""
    field = criterion.field
    value = application.get(field)
    if field in ("type", "country"):
        wanted = list(criterion.values)
        params = {"value": value, "wanted": wanted}
        if value in criterion.values:
            return Fraction(1), "value_in", params, \
                f"{field} {value} is one of {_listed(wanted)}"
        return Fraction(0), "value_not_in", params, \
            f"{field} {value} is not one of {_listed(wanted)}"
    if field in ("countries_served", "specialisations"):
        have = set(value or ())
        wanted = list(dict.fromkeys(criterion.values))
        found = [v for v in wanted if v in have]
        what = field.replace("_", " ")
        if not found:
            return Fraction(0), "list_has_none", {"wanted": wanted}, \
                f"{what}: none of {_listed(wanted)}"
        if criterion.match == "any" or len(found) == len(wanted):
            return Fraction(1), "list_has", {"found": found}, f"{what}: has {_listed(found)}"
        return Fraction(len(found), len(wanted)), "list_has_some", \
            {"found": found, "wanted": wanted}, \
            f"{what}: has {_listed(found)} of {_listed(wanted)}"
    # employees: a range
    if value is None:
        return Fraction(0), "value_missing", {}, f"{field} not given"
    low, high = criterion.minimum, criterion.maximum
    inside = (low is None or value >= low) and (high is None or value <= high)
    bounds = (f"{low}..{high}" if low is not None and high is not None
              else f"at least {low}" if low is not None else f"at most {high}")
    params = {"value": value, "minimum": low, "maximum": high}
    return (Fraction(1), "range_inside", params, f"{field} {value} is {bounds}") if inside \
        else (Fraction(0), "range_outside", params, f"{field} {value} is not {bounds}")


def score(criteria: Sequence[Criterion], application: dict[str, Any]
          ) -> tuple[int, list[Scored]]:
    """The fit score (0..100) and each criterion's share of it."""
    scored = []
    for criterion in criteria:
        fraction, code, params, reason = _score(criterion, application)
        points = fraction * criterion.weight
        earned = _points(points)
        scored.append(Scored(criterion.field, criterion.weight, points,
                             f"{reason} (+{earned} of {criterion.weight})", code,
                             {"field": criterion.field, **params, "points": earned,
                              "weight": criterion.weight}))
    total = sum(c.weight for c in criteria)
    if not total:
        return 0, scored
    exact = sum((s.points for s in scored), Fraction(0)) * 100 / total
    return int(exact + Fraction(1, 2)), scored  # half up; exact is never negative


def _points(points: Fraction) -> str:
    return str(points.numerator) if points.denominator == 1 else f"{float(points):.2f}"
