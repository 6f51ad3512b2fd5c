"""The reads of partner health: a partner's scorecard (its health, every point traced to the
facts behind it, satisfaction, KPIs and tier progress), its history, the list, a preview of a
model before it is saved, and the programme's view by type, tier or country."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.listing import Filter, Listing, ListQuery
from prm_platform.problems import NotFound
from prm_portal.health import measures, service
from prm_portal.health.model import WINDOW_DAYS, HealthModelSpec, score
from prm_portal.health.schemas import (
    Evidence,
    HealthPreviewItem,
    Kpis,
    MeasureOut,
    PillarOut,
    ProgrammeGroup,
    Satisfaction,
)
from prm_portal.models import health_history as hh
from prm_portal.models import health_models as hm
from prm_portal.models import partner_health as ph

LOW_SAMPLE = 30
EVIDENCE_LIMIT = 20

HEALTH = Listing(
    ph.c.partner_id,
    Filter("band", ph.c.band, str, "Only partners in these bands."),
    Filter("partner_type", ph.c.partner_type, str, "Only partners of these types."),
    Filter("partner_tier", ph.c.partner_tier, str, "Only partners in these tiers."),
    Filter("partner_country", ph.c.partner_country, str, "Only partners of these countries."),
    Filter("risk_raised", ph.c.risk_raised, bool, "Only partners whose churn risk is (true) "
           "or is not (false) above the threshold."),
    sorts={"score": ph.c.score_rank, "churn_risk": ph.c.churn_rank},
    default_sort=(("score", False),),
    description="Partners' health, lowest score first by default.",
)
HISTORY = Listing(
    hh.c.computed_on, id_filter=False, within=(hh.c.partner_id,),
    sorts={"computed_on": hh.c.computed_on}, default_sort=(("computed_on", True),),
    description="A partner's score by day, newest first.",
)

VERSIONS = Listing(
    hm.c.version, id_filter=False, sorts={"version": hm.c.version},
    default_sort=(("version", True),), description="The health model's versions.",
)


async def versions_page(session: AsyncSession, query: ListQuery
                        ) -> tuple[list[Any], str | None, int | None]:
    return await VERSIONS.page(session, sa.select(hm), query)


# The facts behind each measure (the current-state measures read the partner's records).
_KINDS: dict[str, tuple[str, ...]] = {
    "deals_registered": ("deal_registered",), "deals_won": ("deal_won",),
    "deals_lost": ("deal_lost",), "revenue_won": ("deal_won",),
    "win_rate": ("deal_won", "deal_lost"),
    "certifications_earned": ("certification_earned",),
    "certifications_lapsed": ("certification_expired",),
    "mdf_requests": ("mdf_requested",), "claims_approved": ("claim_approved",),
    "psat": ("survey_psat",), "nps": ("survey_nps",),
    "survey_answers": ("survey_psat", "survey_nps"),
    "days_since_activity": measures.ACTIVITY_KINDS,
    "onboarding_completed": ("onboarding_completed",),
}
_EVIDENCE = text("""
    SELECT kind, ref_id, occurred_on, value::text AS value, currency, event_id,
           count(*) OVER () AS total
    FROM health_facts
    WHERE partner_id = :partner_id AND kind = ANY(:kinds)
      AND occurred_on > CAST(:as_of AS date) - CAST(:days AS integer)
      AND occurred_on <= CAST(:as_of AS date)
      AND (CAST(:currency AS text) IS NULL OR currency = :currency)
    ORDER BY occurred_on DESC, ref_id LIMIT :limit""")
_OPEN_DEALS = text(f"""
    SELECT deal_id AS ref_id, as_of::date AS occurred_on, amount::text AS value, currency,
           count(*) OVER () AS total
    FROM deals WHERE partner_id = :partner_id AND currency = :currency
      AND status IN ({", ".join(f"'{s}'" for s in measures.OPEN_DEAL_STATUSES)})
    ORDER BY as_of DESC, deal_id LIMIT :limit""")
_HELD = text("""
    SELECT certification_id AS ref_id, coalesce(earned_on, as_of::date) AS occurred_on,
           count(*) OVER () AS total
    FROM certifications WHERE partner_id = :partner_id AND expired_on IS NULL
      AND (expires_on IS NULL OR expires_on >= CAST(:as_of AS date))
    ORDER BY occurred_on DESC, certification_id LIMIT :limit""")
# Deep enough for a lifetime window, within what a date can hold.
_LIFETIME_DAYS = 365 * 200


async def _evidence(session: AsyncSession, partner_id: uuid.UUID, measure: str, window: str,
                    model: HealthModelSpec, as_of: dt.date) -> tuple[list[Evidence], int]:
    params: dict[str, Any] = {"partner_id": partner_id, "as_of": as_of,
                              "limit": EVIDENCE_LIMIT, "currency": None}
    if measure == "open_pipeline":
        rows = list(await session.execute(_OPEN_DEALS, {**params,
                                                        "currency": model.currency}))
        return [Evidence(kind="open_deal", ref_id=r.ref_id, occurred_on=r.occurred_on,
                         value=r.value, currency=r.currency, event_id=None) for r in rows], \
            int(rows[0].total) if rows else 0
    if measure == "active_certifications":
        rows = list(await session.execute(_HELD, params))
        return [Evidence(kind="certification_held", ref_id=r.ref_id,
                         occurred_on=r.occurred_on, value=None, currency=None, event_id=None)
                for r in rows], int(rows[0].total) if rows else 0
    window_days = WINDOW_DAYS.get(window)
    if measure in ("days_since_activity", "onboarding_completed") or window_days is None:
        window_days = _LIFETIME_DAYS
    rows = list(await session.execute(_EVIDENCE, {
        **params, "kinds": list(_KINDS[measure]), "days": window_days,
        "currency": model.currency if measure == "revenue_won" else None,
        "limit": 1 if measure == "days_since_activity" else EVIDENCE_LIMIT}))
    return [Evidence(kind=r.kind, ref_id=r.ref_id, occurred_on=r.occurred_on, value=r.value,
                     currency=r.currency, event_id=r.event_id) for r in rows], \
        int(rows[0].total) if rows else 0


async def traced_pillars(session: AsyncSession, partner_id: uuid.UUID, pillars: list[Any],
                         model: HealthModelSpec, as_of: dt.date) -> list[PillarOut]:
    out = []
    for pillar in pillars:
        traced = []
        for m in pillar["measures"]:
            evidence, count = await _evidence(session, partner_id, m["measure"], m["window"],
                                              model, as_of)
            traced.append(MeasureOut(**m, evidence=evidence, evidence_count=count))
        out.append(PillarOut(**{**pillar, "measures": traced}))
    return out


_SATISFACTION = text("""
    SELECT count(*) FILTER (WHERE kind = 'survey_psat') AS psat_answers,
           avg(value) FILTER (WHERE kind = 'survey_psat') AS psat,
           count(*) FILTER (WHERE kind = 'survey_nps') AS nps_answers,
           count(*) FILTER (WHERE kind = 'survey_nps' AND value >= 9) AS promoters,
           count(*) FILTER (WHERE kind = 'survey_nps' AND value <= 6) AS detractors
    FROM health_facts
    WHERE partner_id = ANY(:ids) AND kind IN ('survey_psat', 'survey_nps')
      AND occurred_on BETWEEN :period_from AND :period_to""")


def satisfaction_of(row: Any) -> Satisfaction:
    psat_n, nps_n = int(row.psat_answers or 0), int(row.nps_answers or 0)
    nps = (Decimal(100) * (int(row.promoters) - int(row.detractors)) / nps_n
           if nps_n else None)
    return Satisfaction(
        answers=psat_n + nps_n, psat_answers=psat_n, nps_answers=nps_n,
        psat=None if row.psat is None else service.decimal_text(
            Decimal(row.psat).quantize(Decimal("0.01"))),
        nps=None if nps is None else service.decimal_text(nps.quantize(Decimal("0.01"))),
        low_sample=psat_n + nps_n < LOW_SAMPLE)


_KPIS = text(f"""
    SELECT
      (SELECT count(*) FROM health_facts WHERE partner_id = :pid AND kind = 'deal_registered'
         AND occurred_on BETWEEN :period_from AND :period_to) AS deals_registered,
      (SELECT count(*) FROM health_facts WHERE partner_id = :pid AND kind = 'deal_won'
         AND occurred_on BETWEEN :period_from AND :period_to) AS deals_won,
      (SELECT count(*) FROM health_facts WHERE partner_id = :pid AND kind = 'deal_lost'
         AND occurred_on BETWEEN :period_from AND :period_to) AS deals_lost,
      (SELECT count(*) FROM health_facts WHERE partner_id = :pid AND kind = 'mdf_requested'
         AND occurred_on BETWEEN :period_from AND :period_to) AS mdf_requests,
      (SELECT count(*) FROM health_facts WHERE partner_id = :pid AND kind = 'claim_approved'
         AND occurred_on BETWEEN :period_from AND :period_to) AS claims_approved,
      (SELECT coalesce(json_agg(json_build_object('currency', currency,
                                                  'amount', total::text) ORDER BY currency),
                       '[]')
       FROM (SELECT currency, sum(value) AS total FROM health_facts
             WHERE partner_id = :pid AND kind = 'deal_won'
               AND occurred_on BETWEEN :period_from AND :period_to
             GROUP BY currency) w) AS won,
      (SELECT coalesce(json_agg(json_build_object('currency', currency,
                                                  'amount', total::text) ORDER BY currency),
                       '[]')
       FROM (SELECT currency, sum(amount) AS total FROM deals
             WHERE partner_id = :pid AND amount IS NOT NULL
               AND status IN ({", ".join(f"'{s}'" for s in measures.OPEN_DEAL_STATUSES)})
             GROUP BY currency) p) AS open_pipeline,
      (SELECT count(*) FROM certifications WHERE partner_id = :pid AND expired_on IS NULL
         AND (expires_on IS NULL OR expires_on >= current_date)) AS active_certifications,
      (SELECT name FROM partner_cards WHERE partner_id = :pid) AS name,
      (SELECT progress FROM tier_progress WHERE partner_id = :pid) AS tier_progress""")


async def scorecard(session: AsyncSession, partner_id: uuid.UUID, period_from: dt.date,
                    period_to: dt.date) -> dict[str, Any]:
    row = (await session.execute(sa.select(ph).where(ph.c.partner_id == partner_id))).first()
    kpis = (await session.execute(_KPIS, {"pid": partner_id, "period_from": period_from,
                                          "period_to": period_to})).one()
    if row is None and kpis.name is None:
        raise NotFound("partner not found")
    survey = (await session.execute(_SATISFACTION, {
        "ids": [partner_id], "period_from": period_from, "period_to": period_to})).one()
    pillars: list[PillarOut] = []
    if row is not None:
        model = HealthModelSpec.model_validate(
            (await service.model_version(session, row.model_version)).spec)
        pillars = await traced_pillars(session, partner_id, row.pillars, model,
                                       row.computed_on)
    return {
        "partner_id": partner_id, "name": kpis.name, "period_from": period_from,
        "period_to": period_to, "health": health_out(row) if row is not None else None,
        "pillars": pillars, "satisfaction": satisfaction_of(survey),
        "kpis": Kpis(deals_registered=kpis.deals_registered, deals_won=kpis.deals_won,
                     deals_lost=kpis.deals_lost, won=kpis.won,
                     open_pipeline=kpis.open_pipeline, mdf_requests=kpis.mdf_requests,
                     claims_approved=kpis.claims_approved,
                     active_certifications=kpis.active_certifications),
        "tier_progress": kpis.tier_progress}


def health_out(row: Any) -> dict[str, Any]:
    t = service.decimal_text
    return {
        "partner_id": row.partner_id, "score": t(row.score), "band": row.band,
        "model_version": row.model_version, "computed_on": row.computed_on,
        "computed_at": row.computed_at, "previous_score": t(row.previous_score),
        "previous_band": row.previous_band, "trend": t(row.trend),
        "churn_risk": {"probability": t(row.churn_risk), "drivers": row.churn_drivers or []},
        "growth": {"probability": t(row.growth), "drivers": row.growth_drivers or []},
        "partner_type": row.partner_type, "partner_tier": row.partner_tier,
        "partner_country": row.partner_country, "version": row.version}


async def health_page(session: AsyncSession, query: ListQuery
                      ) -> tuple[list[Any], str | None, int | None]:
    return await HEALTH.page(session, sa.select(ph), query)


async def one(session: AsyncSession, partner_id: uuid.UUID) -> Any:
    row = (await session.execute(sa.select(ph).where(ph.c.partner_id == partner_id))).first()
    if row is None:
        raise NotFound("partner health not found: the partner is unknown or not scored yet")
    return row


async def history_page(session: AsyncSession, partner_id: uuid.UUID, query: ListQuery
                       ) -> tuple[list[Any], str | None, int | None]:
    await one(session, partner_id)
    return await HISTORY.page(session, sa.select(hh).where(hh.c.partner_id == partner_id),
                              query)


async def preview(session: AsyncSession, spec: HealthModelSpec,
                  partner_ids: Sequence[uuid.UUID]) -> list[HealthPreviewItem]:
    """Score partners under a model not saved (nothing is written), beside their score now."""
    as_of = service.today()
    ids = list(dict.fromkeys(partner_ids))
    facts = await measures.load(session, ids, as_of, spec.decay_half_life_days)
    now = {r.partner_id: r for r in await session.execute(
        sa.select(ph.c.partner_id, ph.c.score, ph.c.band).where(ph.c.partner_id.in_(ids)))}
    items = []
    for partner_id in ids:
        result = score(spec, measures.values(spec, facts[partner_id], as_of))
        current = now.get(partner_id)
        items.append(HealthPreviewItem(
            partner_id=partner_id, score=service.decimal_text(result.score), band=result.band,
            current_score=service.decimal_text(current.score) if current else None,
            current_band=current.band if current else None,
            pillars=[PillarOut(**p) for p in service.pillars_json(result)]))
    return items


_NO_ANSWERS = SimpleNamespace(psat_answers=0, psat=None, nps_answers=0, promoters=0,
                              detractors=0)
_GROUP_COLUMNS = {"type": "c.type", "tier": "c.tier", "country": "c.country"}


async def programme(session: AsyncSession, group_by: str, period_from: dt.date,
                    period_to: dt.date) -> list[ProgrammeGroup]:
    """Per group: each partner's last score within the period, its band, its churn risk now,
    and the survey answers of the period."""
    column = _GROUP_COLUMNS[str(group_by)]
    rows = await session.execute(text(f"""
        WITH last AS (
            SELECT DISTINCT ON (partner_id) partner_id, score, band FROM health_history
            WHERE computed_on BETWEEN :period_from AND :period_to
            ORDER BY partner_id, computed_on DESC),
        grouped AS (
            SELECT {column} AS key, l.partner_id, l.score, l.band, h.churn_risk,
                   coalesce(h.risk_raised, false) AS raised
            FROM last l JOIN partner_cards c ON c.partner_id = l.partner_id
            LEFT JOIN partner_health h ON h.partner_id = l.partner_id)
        SELECT key, count(*) AS partners, avg(score) AS mean_score,
               jsonb_object_agg_strict(band, n) AS bands, avg(churn_risk) AS mean_risk,
               count(*) FILTER (WHERE raised) AS raised
        FROM (SELECT *, count(*) OVER (PARTITION BY key, band) AS n FROM grouped) g
        GROUP BY key ORDER BY key NULLS LAST LIMIT 500"""),
        {"period_from": period_from, "period_to": period_to})
    surveys = {r.key: r for r in await session.execute(text(f"""
        SELECT {column} AS key,
               count(*) FILTER (WHERE kind = 'survey_psat') AS psat_answers,
               avg(value) FILTER (WHERE kind = 'survey_psat') AS psat,
               count(*) FILTER (WHERE kind = 'survey_nps') AS nps_answers,
               count(*) FILTER (WHERE kind = 'survey_nps' AND value >= 9) AS promoters,
               count(*) FILTER (WHERE kind = 'survey_nps' AND value <= 6) AS detractors
        FROM health_facts f JOIN partner_cards c ON c.partner_id = f.partner_id
        WHERE kind IN ('survey_psat', 'survey_nps')
          AND occurred_on BETWEEN :period_from AND :period_to
        GROUP BY 1"""), {"period_from": period_from, "period_to": period_to})}
    groups = []
    for row in rows:
        survey = surveys.get(row.key, _NO_ANSWERS)
        groups.append(ProgrammeGroup(
            key=row.key, partners=row.partners,
            mean_score=None if row.mean_score is None else service.decimal_text(
                Decimal(row.mean_score).quantize(Decimal("0.01"))),
            bands={k: int(v) for k, v in (row.bands or {}).items()},
            mean_churn_risk=None if row.mean_risk is None else service.decimal_text(
                Decimal(row.mean_risk).quantize(Decimal("0.0001"))),
            churn_risk_raised=row.raised, satisfaction=satisfaction_of(survey)))
    return groups
