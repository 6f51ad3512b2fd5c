"""Each measure's value for a batch of partners on a day, read from the facts and the portal's
projections in four statements per batch (whatever the number of partners in it)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_portal.health.facts import PARTNER_CREATED
from prm_portal.health.model import WINDOW_DAYS, HealthModelSpec, MeasureSpec

# A deal is open while the vendor may still approve or win it (the deals service's own list).
OPEN_DEAL_STATUSES = ("submitted", "in_review", "approved")
ACTIVITY_KINDS = ("deal_registered", "deal_won", "deal_lost", "certification_earned",
                  "mdf_requested", "claim_approved", "survey_psat", "survey_nps",
                  "onboarding_completed", "resource_used", "path_completed")
WINDOWS = tuple(WINDOW_DAYS)


def _window_filter(window: str) -> str:
    days = WINDOW_DAYS[window]
    if days is None:
        return "occurred_on <= CAST(:as_of AS date)"
    return (f"occurred_on > CAST(:as_of AS date) - {days} "
            "AND occurred_on <= CAST(:as_of AS date)")


def _aggregates() -> str:
    """Per partner, kind and currency: counts, sums, NPS promoters and detractors per window,
    and the decayed counts and sums (weight 1/2^(age / half-life); 1 without a half-life)."""
    weight = ("coalesce(power(0.5, (CAST(:as_of AS date) - occurred_on)::numeric "
              "/ CAST(:half_life AS numeric)), 1)")
    columns = []
    for w in WINDOWS:
        f = _window_filter(w)
        tag = w.replace("d", "")
        columns += [
            f"count(*) FILTER (WHERE {f}) AS n_{tag}",
            f"sum(value) FILTER (WHERE {f}) AS s_{tag}",
            f"sum({weight}) FILTER (WHERE {f}) AS wn_{tag}",
            f"sum(value * {weight}) FILTER (WHERE {f}) AS ws_{tag}",
            f"count(*) FILTER (WHERE {f} AND value >= 9) AS pro_{tag}",
            f"count(*) FILTER (WHERE {f} AND value <= 6) AS det_{tag}",
        ]
    return f"""
        SELECT partner_id, kind, currency, {", ".join(columns)},
               max(occurred_on) FILTER (WHERE occurred_on <= CAST(:as_of AS date)) AS last_on
        FROM health_facts WHERE partner_id = ANY(:ids)
        GROUP BY partner_id, kind, currency"""


_AGGREGATES = text(_aggregates())
_PIPELINE = text(f"""
    SELECT partner_id, currency, sum(amount) AS amount FROM deals
    WHERE partner_id = ANY(:ids) AND amount IS NOT NULL
      AND status IN ({", ".join(f"'{s}'" for s in OPEN_DEAL_STATUSES)})
    GROUP BY partner_id, currency""")
_CERTIFICATIONS = text("""
    SELECT partner_id, count(*) AS held FROM certifications
    WHERE partner_id = ANY(:ids) AND expired_on IS NULL
      AND (expires_on IS NULL OR expires_on >= :as_of)
      AND (earned_on IS NULL OR earned_on <= :as_of)
    GROUP BY partner_id""")
_ONBOARDED = text("SELECT partner_id FROM onboarding WHERE partner_id = ANY(:ids)")


@dataclass
class Facts:
    """One partner's aggregates: (kind, currency, window) -> figures."""

    rows: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    pipeline: dict[str, Decimal] = field(default_factory=dict)
    certifications: int = 0
    onboarded: bool = False


async def load(session: AsyncSession, ids: Sequence[uuid.UUID], as_of: dt.date,
               half_life_days: int | None) -> dict[uuid.UUID, Facts]:
    params = {"ids": list(ids), "as_of": as_of,
              "half_life": None if half_life_days is None else Decimal(half_life_days)}
    found: dict[uuid.UUID, Facts] = defaultdict(Facts)
    for row in await session.execute(_AGGREGATES, params):
        found[row.partner_id].rows[(row.kind, row.currency)] = row
    for row in await session.execute(_PIPELINE, params):
        found[row.partner_id].pipeline[row.currency] = Decimal(row.amount)
    for row in await session.execute(_CERTIFICATIONS, params):
        found[row.partner_id].certifications = int(row.held)
    for row in await session.execute(_ONBOARDED, params):
        found[row.partner_id].onboarded = True
    return {partner_id: found[partner_id] for partner_id in ids}


def _sum(facts: Facts, kinds: Sequence[str], column: str, window: str,
         currency: str | None = None) -> Decimal:
    tag = window.replace("d", "")
    total = Decimal(0)
    for (kind, cur), row in facts.rows.items():
        if kind in kinds and (currency is None or cur == currency):
            total += Decimal(getattr(row, f"{column}_{tag}") or 0)
    return total


_COUNTED = {"deals_registered": ("deal_registered",), "deals_won": ("deal_won",),
            "deals_lost": ("deal_lost",), "certifications_earned": ("certification_earned",),
            "certifications_lapsed": ("certification_expired",),
            "mdf_requests": ("mdf_requested",), "claims_approved": ("claim_approved",),
            "survey_answers": ("survey_psat", "survey_nps"),
            "resources_used": ("resource_used",),
            "learning_paths_completed": ("path_completed",)}


def value(spec: MeasureSpec, facts: Facts, model: HealthModelSpec, as_of: dt.date
          ) -> Decimal | None:
    """The measure's value, or None when there is nothing to measure (no answer, no closed
    deal): the measure then sits out of its pillar."""
    decayed = model.decay_half_life_days is not None
    m, w = spec.measure, spec.window
    if m in _COUNTED:
        return _sum(facts, _COUNTED[m], "wn" if decayed else "n", w)
    if m == "revenue_won":
        return _sum(facts, ("deal_won",), "ws" if decayed else "s", w, model.currency)
    if m == "win_rate":
        won, lost = _sum(facts, ("deal_won",), "n", w), _sum(facts, ("deal_lost",), "n", w)
        return won / (won + lost) if won + lost else None
    if m == "psat":
        answers = _sum(facts, ("survey_psat",), "n", w)
        return _sum(facts, ("survey_psat",), "s", w) / answers if answers else None
    if m == "nps":
        answers = _sum(facts, ("survey_nps",), "n", w)
        if not answers:
            return None
        net = _sum(facts, ("survey_nps",), "pro", w) - _sum(facts, ("survey_nps",), "det", w)
        return 100 * net / answers
    if m == "open_pipeline":
        return facts.pipeline.get(model.currency, Decimal(0))
    if m == "active_certifications":
        return Decimal(facts.certifications)
    if m == "onboarding_completed":
        return Decimal(1 if facts.onboarded else 0)
    if m == "days_since_activity":
        last = last_activity(facts)
        return None if last is None else Decimal((as_of - last).days)
    raise ValueError(f"unknown measure {m}")


def last_activity(facts: Facts) -> dt.date | None:
    """The last sign of life; a partner that did nothing yet counts from its creation."""
    days = [row.last_on for (kind, _), row in facts.rows.items()
            if kind in ACTIVITY_KINDS and row.last_on is not None]
    if not days:
        days = [row.last_on for (kind, _), row in facts.rows.items()
                if kind == PARTNER_CREATED and row.last_on is not None]
    return max(days) if days else None


def values(model: HealthModelSpec, facts: Facts, as_of: dt.date
           ) -> dict[tuple[str, str], Decimal | None]:
    return {(spec.measure, spec.window): value(spec, facts, model, as_of)
            for pillar in model.pillars for spec in pillar.measures}
