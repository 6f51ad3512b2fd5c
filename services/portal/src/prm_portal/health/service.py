"""Partner health: the model's versions, scoring (from events within a minute, every partner
daily), the band crossings and early warnings it announces, and the reads."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerChurnRiskRaisedV1, PartnerHealthBandChangedV1
from prm_events.outbox import publish
from prm_platform.problems import NotFound, PreconditionFailed
from prm_portal.health import measures, risk
from prm_portal.health.model import HealthModelSpec, Score, band_rank, score

EVENT_SOURCE = "/prm/portal"
SCORING_BATCH = 500
TRAINING_PARTNERS = 5000
TREND_DAYS = 30
RISK_HISTORY_DAYS = 730  # the early-warning features look back 545 days at most
ESTIMATORS = ("churn", "growth")
PROBABILITY = Decimal("0.0001")


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --- the model's versions ------------------------------------------------------------------

async def current_model(session: AsyncSession) -> tuple[int, HealthModelSpec, Any]:
    row = (await session.execute(text(
        "SELECT version, spec, created_at, created_by FROM health_models "
        "ORDER BY version DESC LIMIT 1"))).one()
    return row.version, HealthModelSpec.model_validate(row.spec), row


async def model_version(session: AsyncSession, version: int) -> Any:
    row = (await session.execute(text(
        "SELECT version, spec, created_at, created_by FROM health_models WHERE version = :v"),
        {"v": version})).one_or_none()
    if row is None:
        raise NotFound(f"health model version {version} not found")
    return row


async def new_model(session: AsyncSession, spec: HealthModelSpec, expected: int,
                    author: str) -> int:
    """A new version, written only over the one the caller read (If-Match); every partner is
    then due for scoring under it."""
    current = await session.scalar(text(
        "SELECT max(version) FROM health_models"))
    if current != expected:
        raise PreconditionFailed(f"the health model is at version {current}, not {expected}")
    version = int(current) + 1
    inserted = await session.execute(text("""
        INSERT INTO health_models (version, spec, created_at, created_by)
        VALUES (:v, CAST(:spec AS jsonb), now(), :by) ON CONFLICT (version) DO NOTHING"""),
        {"v": version, "spec": orjson.dumps(spec.model_dump(mode="json")).decode(),
         "by": author[:200]})
    if inserted.rowcount != 1:  # type: ignore[attr-defined]
        raise PreconditionFailed(f"the health model moved past version {expected}")
    await session.execute(text("""
        INSERT INTO health_due (partner_id, since)
        SELECT partner_id, now() FROM partner_cards ON CONFLICT (partner_id) DO NOTHING"""))
    return version


# --- scoring -------------------------------------------------------------------------------

async def _estimators(session: AsyncSession) -> dict[str, risk.Model]:
    rows = await session.execute(text("SELECT target, model FROM health_estimators"))
    return {row.target: risk.Model.from_json(row.model) for row in rows}


_RAW_FACTS = text("""
    SELECT partner_id, kind, occurred_on, value FROM health_facts
    WHERE partner_id = ANY(:ids) AND occurred_on > CAST(:as_of AS date) - CAST(:days AS integer)
      AND occurred_on <= CAST(:as_of AS date) AND kind <> 'partner_created'""")


async def _histories(session: AsyncSession, ids: Sequence[uuid.UUID], as_of: dt.date
                     ) -> dict[uuid.UUID, list[risk.Fact]]:
    found: dict[uuid.UUID, list[risk.Fact]] = defaultdict(list)
    for row in await session.execute(_RAW_FACTS, {"ids": list(ids), "as_of": as_of,
                                                  "days": RISK_HISTORY_DAYS}):
        found[row.partner_id].append(risk.Fact(row.kind, row.occurred_on, row.value))
    return found


def pillars_json(result: Score) -> list[dict[str, Any]]:
    return [{"key": p.key, "name": p.name, "weight": p.weight, "score": decimal_text(p.score),
             "contribution": decimal_text(p.contribution),
             "measures": [{"measure": m.measure, "window": m.window, "direction": m.direction,
                           "value": decimal_text(m.value), "points": decimal_text(m.points),
                           "contribution": decimal_text(m.contribution)} for m in p.measures]}
            for p in result.pillars]


def decimal_text(value: Decimal | None) -> str | None:
    """A decimal as the API writes it: exact, at most four places (a ratio's long tail cut)."""
    if value is None:
        return None
    if value.as_tuple().exponent < -4:  # type: ignore[operator]
        value = value.quantize(PROBABILITY, ROUND_HALF_EVEN)
    return format(value, "f")


_PREVIOUS = text("""
    SELECT partner_id, score, band, risk_raised, version FROM partner_health
    WHERE partner_id = ANY(:ids)""")
_TREND_BASE = text("""
    SELECT DISTINCT ON (partner_id) partner_id, score FROM health_history
    WHERE partner_id = ANY(:ids) AND computed_on <= CAST(:as_of AS date) - CAST(:days AS integer)
    ORDER BY partner_id, computed_on DESC""")
_UPSERT = text("""
    WITH now_ AS (
        INSERT INTO partner_health AS t (partner_id, score, band, model_version, computed_on,
            computed_at, pillars, previous_score, previous_band, trend, churn_risk,
            churn_drivers, growth, growth_drivers, risk_raised, partner_type, partner_tier,
            partner_country, version)
        SELECT :partner_id, :score, :band, :model_version, :as_of, now(),
                CAST(:pillars AS jsonb), :previous_score, :previous_band, :trend, :churn_risk,
                CAST(:churn_drivers AS jsonb), :growth, CAST(:growth_drivers AS jsonb),
                :risk_raised, c.type, c.tier, c.country, 1
        FROM (SELECT 1) one LEFT JOIN partner_cards c ON c.partner_id = :partner_id
        ON CONFLICT (partner_id) DO UPDATE SET score = excluded.score, band = excluded.band,
            model_version = excluded.model_version, computed_on = excluded.computed_on,
            computed_at = excluded.computed_at, pillars = excluded.pillars,
            previous_score = t.score, previous_band = t.band, trend = excluded.trend,
            churn_risk = excluded.churn_risk, churn_drivers = excluded.churn_drivers,
            growth = excluded.growth, growth_drivers = excluded.growth_drivers,
            risk_raised = excluded.risk_raised, partner_type = excluded.partner_type,
            partner_tier = excluded.partner_tier, partner_country = excluded.partner_country,
            version = t.version + 1
        RETURNING partner_id)
    INSERT INTO health_history AS h (partner_id, computed_on, score, band, model_version,
                                     pillars, churn_risk, growth)
    SELECT partner_id, :as_of, :score, :band, :model_version, CAST(:pillar_scores AS jsonb),
           :churn_risk, :growth FROM now_
    ON CONFLICT (partner_id, computed_on) DO UPDATE SET score = excluded.score,
        band = excluded.band, model_version = excluded.model_version,
        pillars = excluded.pillars, churn_risk = excluded.churn_risk,
        growth = excluded.growth""")


def _drivers(found: risk.Estimate | None) -> str | None:
    if found is None:
        return None
    return orjson.dumps([{"feature": d.feature, "value": round(d.value, 4),
                          "contribution": round(d.contribution, 4), "says": d.says}
                         for d in found.drivers]).decode()


async def score_partners(session: AsyncSession, ids: Sequence[uuid.UUID], as_of: dt.date
                         ) -> int:
    """Score ``ids`` on ``as_of`` under the current model, keep the day in the history, and
    announce what crossed: a band (either way) and a churn risk above the threshold (once,
    until it falls back below)."""
    if not ids:
        return 0
    version, model, _ = await current_model(session)
    facts = await measures.load(session, ids, as_of, model.decay_half_life_days)
    previous = {r.partner_id: r for r in await session.execute(_PREVIOUS, {"ids": list(ids)})}
    base = {r.partner_id: r.score for r in await session.execute(
        _TREND_BASE, {"ids": list(ids), "as_of": as_of, "days": TREND_DAYS})}
    estimators = await _estimators(session)
    histories = await _histories(session, ids, as_of) if estimators else {}
    for partner_id in ids:
        result = score(model, measures.values(model, facts[partner_id], as_of))
        before = previous.get(partner_id)
        estimates: dict[str, risk.Estimate | None] = {}
        feats = risk.features(histories.get(partner_id, []), as_of) if estimators else None
        for target in ESTIMATORS:
            estimator = estimators.get(target)
            estimates[target] = (risk.estimate(estimator, feats)
                                 if estimator is not None and feats is not None else None)
        churn = estimates["churn"]
        churn_risk = churn.probability if churn is not None else None
        raised = churn_risk is not None and churn_risk > model.churn_risk_threshold
        was_raised = bool(before and before.risk_raised)
        growth = estimates["growth"]
        trend = (result.score - base[partner_id]
                 if result.score is not None and base.get(partner_id) is not None else None)
        await session.execute(_UPSERT, {
            "partner_id": partner_id, "score": result.score, "band": result.band,
            "model_version": version, "as_of": as_of, "pillars": orjson.dumps(
                pillars_json(result)).decode(),
            "pillar_scores": orjson.dumps({p.key: decimal_text(p.score) for p in result.pillars}
                                          ).decode(),
            "previous_score": before.score if before else None,
            "previous_band": before.band if before else None, "trend": trend,
            "churn_risk": churn_risk, "churn_drivers": _drivers(churn),
            "growth": growth.probability if growth is not None else None,
            "growth_drivers": _drivers(growth),
            "risk_raised": raised or (was_raised and churn_risk is None)})
        if before is not None and result.band is not None and before.band != result.band:
            await publish(session, PartnerHealthBandChangedV1(
                partner_id=partner_id, score=decimal_text(result.score) or "0",
                band=result.band, previous_band=before.band,
                previous_score=decimal_text(before.score),
                direction=_direction(model, before.band, before.score, result),
                model_version=version, computed_on=as_of),
                source=EVENT_SOURCE, aggregate_id=partner_id, partner_id=partner_id)
        if raised and not was_raised and churn is not None:
            await publish(session, PartnerChurnRiskRaisedV1(
                partner_id=partner_id, churn_risk=decimal_text(churn.probability) or "0",
                threshold=decimal_text(model.churn_risk_threshold) or "0",
                drivers=[d.says for d in churn.drivers], computed_on=as_of),
                source=EVENT_SOURCE, aggregate_id=partner_id, partner_id=partner_id)
    return len(ids)


def _direction(model: HealthModelSpec, band: str | None, before: Decimal | None,
               result: Score) -> str:
    was, now = band_rank(model, band), band_rank(model, result.band)
    if was is not None and now is not None:
        return "worse" if now > was else "better"
    # A band of an older model: the scores say which way it went.
    return "worse" if before is not None and result.score is not None and \
        result.score < before else "better"


_DUE = text("""
    DELETE FROM health_due WHERE partner_id IN (
        SELECT partner_id FROM health_due ORDER BY since LIMIT :batch
        FOR UPDATE SKIP LOCKED)
    RETURNING partner_id""")


async def score_due(session: AsyncSession, batch: int = SCORING_BATCH) -> int:
    """The partners whose facts changed (or all, after a new model), a batch per run; a
    replica running beside it takes other rows."""
    ids = sorted(r.partner_id for r in await session.execute(_DUE, {"batch": batch}))
    return await score_partners(session, ids, today())


_STALE = text("""
    INSERT INTO health_due (partner_id, since)
    SELECT c.partner_id, now() FROM partner_cards c
    LEFT JOIN partner_health h ON h.partner_id = c.partner_id
    WHERE h.computed_on IS NULL OR h.computed_on < CAST(:as_of AS date)
    ON CONFLICT (partner_id) DO NOTHING""")


async def mark_stale(session: AsyncSession, batch: int = 0) -> int:
    """Every partner not scored today is due (windows move with the day)."""
    result = await session.execute(_STALE, {"as_of": today()})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def train_estimators(session: AsyncSession, batch: int = 0) -> int:
    """Fit the churn and growth estimators on the partners' histories (no look-ahead: a
    sample's outcome lies before today), a fixed sample of at most TRAINING_PARTNERS partners
    (drawn by a hash of their ids: the same from week to week) so that a large programme's
    fit stays minutes of one core. Too little history keeps the previous fit, or none."""
    through = today()
    histories: dict[uuid.UUID, list[risk.Fact]] = defaultdict(list)
    rows = await session.stream(text("""
        WITH sample AS (
            SELECT partner_id FROM (SELECT DISTINCT partner_id FROM health_facts) p
            ORDER BY md5(partner_id::text) LIMIT :partners)
        SELECT f.partner_id, f.kind, f.occurred_on, f.value FROM health_facts f
        JOIN sample USING (partner_id) WHERE f.kind <> 'partner_created'
        ORDER BY f.partner_id"""), {"partners": TRAINING_PARTNERS})
    async for row in rows:
        histories[row.partner_id].append(risk.Fact(row.kind, row.occurred_on, row.value))
    trained = 0
    for target in ESTIMATORS:
        samples = risk.training_samples(histories, through, target)
        try:
            fitted = risk.fit(samples, target, through)
        except risk.InsufficientHistory:
            continue
        await session.execute(text("""
            INSERT INTO health_estimators (target, model, trained_at)
            VALUES (:target, CAST(:model AS jsonb), now())
            ON CONFLICT (target) DO UPDATE SET model = excluded.model,
                trained_at = excluded.trained_at"""),
            {"target": target, "model": orjson.dumps(fitted.to_json()).decode()})
        trained += 1
    return trained
