"""The tier decision, free of I/O: which tier a partner qualifies for, and what that does to the
tier it holds.

- The qualifying tier is the highest-ranked tier whose criteria all hold (a tier does not
  require the lower ones to hold: its own criteria say what it takes).
- Higher than the tier held: promoted at once.
- Lower: a demotion is pending from the first evaluation that found it lower, and happens only
  once the grace period has passed since then, to the tier it qualifies for on that day; it
  clears as soon as the partner qualifies for its tier again.

Money is exact: each won deal is converted with ``prm_platform.money.convert`` (Decimal,
rounded half-even to the base currency's minor unit) before it is summed.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from prm_platform.money import format_amount

PROMOTION = "promotion"
DEMOTION = "demotion"


def window_start(as_of: dt.date, months: int) -> dt.date:
    """The day ``months`` before ``as_of`` (clamped to the month's last day): deals closed
    after it, up to and including ``as_of``, count."""
    year, month = divmod(as_of.year * 12 + as_of.month - 1 - months, 12)
    month += 1
    return dt.date(year, month, min(as_of.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Requirements:
    """What a tier takes. ``min_revenue`` is in ``revenue_currency``, which must be the
    programme's base currency for the criterion to be able to hold."""

    min_revenue: Decimal | None = None
    revenue_currency: str | None = None
    min_certifications: int = 0
    min_won_deals: int = 0
    compliance_required: bool = False


@dataclass(frozen=True)
class Tier:
    name: str
    rank: int
    requires: Requirements


@dataclass(frozen=True)
class Metrics:
    """A partner's standing on one day: trailing-window won-deal revenue in the base currency
    (converted deals only), won deals, active certifications, compliance."""

    revenue: Decimal
    currency: str
    won_deals: int
    certifications: int
    compliant: bool


@dataclass(frozen=True)
class Pending:
    """A demotion waiting for its grace period: to ``tier`` (None: no tier), found on
    ``since``."""

    tier: str | None
    since: dt.date


@dataclass(frozen=True)
class Decision:
    tier: str | None  # what the partner holds after this evaluation
    previous: str | None
    qualifying: Tier | None
    direction: str | None  # PROMOTION, DEMOTION, or None when the tier stays
    pending: Pending | None
    due_on: dt.date | None  # when the pending demotion takes effect
    reason: str

    @property
    def changed(self) -> bool:
        return self.direction is not None


@dataclass(frozen=True)
class Shortfall:
    """One criterion of a tier that does not hold: the ``criterion`` (``revenue``,
    ``active_certifications``, ``won_deals`` or ``compliant``), what the tier ``required`` and
    the partner's ``actual`` value (money as ``(amount, currency)``), a stable ``code`` with its
    ``params`` for a reader to put in its own words, and the ``message`` in English."""

    criterion: str
    required: tuple[Decimal, str] | int | bool
    actual: tuple[Decimal, str] | int | bool
    code: str
    params: dict[str, str | int]
    message: str


# Every Shortfall.code, and the params it carries (docs/partner-programme.md lists them).
SHORTFALL_CODES = {
    "revenue_currency_mismatch": ("required_currency", "base_currency"),
    "revenue_below_minimum": ("actual", "required", "short", "currency"),
    "certifications_below_minimum": ("actual", "required"),
    "won_deals_below_minimum": ("actual", "required"),
    "not_compliant": (),
}


def gaps(tier: Tier, metrics: Metrics) -> list[Shortfall]:
    """What keeps ``metrics`` from ``tier``, criterion by criterion; empty when every one
    holds."""
    needs, found = tier.requires, []
    if needs.min_revenue is not None and needs.min_revenue > 0:
        cur, wanted = metrics.currency, needs.revenue_currency or metrics.currency
        required, actual = (needs.min_revenue, wanted), (metrics.revenue, cur)
        if wanted != cur:
            found.append(Shortfall(
                "revenue", required, actual, "revenue_currency_mismatch",
                {"required_currency": wanted, "base_currency": cur},
                f"its minimum revenue is in {wanted}, not the base currency {cur}: restate it "
                f"in {cur}"))
        elif metrics.revenue < needs.min_revenue:
            have, need = format_amount(metrics.revenue, cur), format_amount(needs.min_revenue, cur)
            short = format_amount(needs.min_revenue - metrics.revenue, cur)
            found.append(Shortfall(
                "revenue", required, actual, "revenue_below_minimum",
                {"actual": have, "required": need, "short": short, "currency": cur},
                f"revenue {have} {cur} of {need} {cur} ({short} short)"))
    if metrics.certifications < needs.min_certifications:
        found.append(Shortfall(
            "active_certifications", needs.min_certifications, metrics.certifications,
            "certifications_below_minimum",
            {"actual": metrics.certifications, "required": needs.min_certifications},
            f"{metrics.certifications} active certifications of {needs.min_certifications}"))
    if metrics.won_deals < needs.min_won_deals:
        found.append(Shortfall(
            "won_deals", needs.min_won_deals, metrics.won_deals, "won_deals_below_minimum",
            {"actual": metrics.won_deals, "required": needs.min_won_deals},
            f"{metrics.won_deals} won deals of {needs.min_won_deals}"))
    if needs.compliance_required and not metrics.compliant:
        found.append(Shortfall("compliant", True, False, "not_compliant", {},
                               "not compliant with the programme's requirements"))
    return found


def shortfalls(tier: Tier, metrics: Metrics) -> list[str]:
    """What keeps ``metrics`` from ``tier``, in words; empty when every criterion holds."""
    return [gap.message for gap in gaps(tier, metrics)]


def qualifying(tiers: Sequence[Tier], metrics: Metrics) -> Tier | None:
    """The highest-ranked tier whose criteria all hold, if any."""
    best: Tier | None = None
    for tier in tiers:
        if (best is None or tier.rank > best.rank) and not shortfalls(tier, metrics):
            best = tier
    return best


def next_tier(tiers: Sequence[Tier], metrics: Metrics, held: str | None
              ) -> tuple[Tier, list[Shortfall]] | None:
    """The lowest tier above both the one held and the one qualified for, with what it
    misses."""
    floor = max(_rank(tiers, held), _rank_of(qualifying(tiers, metrics)))
    above = sorted((t for t in tiers if t.rank > floor), key=lambda t: t.rank)
    return (above[0], gaps(above[0], metrics)) if above else None


def _rank_of(tier: Tier | None) -> int:
    return tier.rank if tier is not None else -1  # no tier is below every tier


def _rank(tiers: Sequence[Tier], name: str | None) -> int:
    return _rank_of(next((t for t in tiers if t.name == name), None))


def _describe(metrics: Metrics) -> str:
    cur = metrics.currency
    return (f"revenue {format_amount(metrics.revenue, cur)} {cur}, {metrics.won_deals} won "
            f"deals, {metrics.certifications} active certifications, "
            f"{'compliant' if metrics.compliant else 'not compliant'}")


def decide(tiers: Sequence[Tier], metrics: Metrics, held: str | None, pending: Pending | None,
           as_of: dt.date, grace_days: int) -> Decision:
    """What one evaluation on ``as_of`` does to the tier ``held`` (and its ``pending``
    demotion, if one was found earlier)."""
    target = qualifying(tiers, metrics)
    target_name = target.name if target else None
    known = held is None or any(t.name == held for t in tiers)
    facts = _describe(metrics)
    if not known:  # its tier left the programme: no grace for a tier that no longer exists
        return Decision(target_name, held, target, PROMOTION if target else DEMOTION, None,
                        None, f"its tier {held} is no longer in the programme; {facts}")
    held_rank, target_rank = _rank(tiers, held), _rank_of(target)
    if target_rank > held_rank:
        assert target is not None
        return Decision(target.name, held, target, PROMOTION, None, None,
                        f"meets every criterion of {target.name}: {facts}")
    if target_rank == held_rank:
        why = f"still meets every criterion of {held}" if held else "qualifies for no tier"
        return Decision(held, held, target, None, None, None, f"{why}: {facts}")
    since = pending.since if pending is not None else as_of
    due_on = since + dt.timedelta(days=grace_days)
    held_tier = next(t for t in tiers if t.name == held)
    missing = "; ".join(shortfalls(held_tier, metrics))
    if as_of >= due_on:
        return Decision(target_name, held, target, DEMOTION, None, None,
                        f"below {held} since {since.isoformat()} ({missing}), past the "
                        f"{grace_days}-day grace period; qualifies for "
                        f"{target_name or 'no tier'}: {facts}")
    return Decision(held, held, target, None, Pending(target_name, since), due_on,
                    f"below {held} since {since.isoformat()} ({missing}); demotion to "
                    f"{target_name or 'no tier'} on {due_on.isoformat()} unless it qualifies "
                    f"again: {facts}")
