"""Routing a lead: the first enabled rule (in position order) whose conditions the lead meets
and whose partner filter leaves anyone names the pool; the pool's fair order
(``fairness.order``) names whose turn it is; a partner that cannot take the lead now (at its
cap, paused, declined it before) is passed over for the next in line. Everything seen on the
way is kept as the offer's explanation.

The pool is the rule version and the weighted set of partners it matched for this kind of
lead, by digest; its row is locked while a lead is given out, so that two replicas routing at
once wait for each other and the counts stay exact. A partner's open offers are counted on its
settings row, raised only where still under the cap (one conditional statement), so no race
can give a partner more than its cap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_deals.leads import propensity
from prm_deals.leads.fairness import Member, Turn, order
from prm_deals.leads.schemas import LeadCandidateOut, LeadRoutingExplanation
from prm_platform.ids import new_id

# How far down the order a lead is carried before it goes to the vendor's queue.
MAX_TURNS = 200
# Candidates kept in an explanation (the passed-over ones before the chosen, then a few more).
SHOWN = 25
AFTER_CHOSEN = 3

_RULES = text("""
    SELECT id, name, version, conditions, partners, weighting, capacity, respond_within_hours
    FROM lead_routing_rules WHERE enabled ORDER BY position, id LIMIT 200
""")


@dataclass
class Routed:
    """Where routing sent a lead: a partner (``partner_id``), or the queue (``reason``)."""

    partner_id: uuid.UUID | None
    reason: str
    explanation: LeadRoutingExplanation
    rule: dict[str, Any] | None = None
    pool_id: uuid.UUID | None = None
    respond_by: dt.datetime | None = None
    passed: dict[str, int] = field(default_factory=dict)


def _primary(language: str | None) -> str | None:
    return language.split("-")[0].lower() if language else None


def meets(conditions: dict[str, Any], lead: Any) -> bool:
    """Whether the lead meets every condition the rule gives (one left out always holds)."""
    def within(key: str, value: str | None, fold: bool = False) -> bool:
        wanted = conditions.get(key)
        if wanted is None:
            return True
        if value is None:
            return False
        if fold:
            return value.lower() in {w.lower() for w in wanted}
        return value in wanted

    languages = conditions.get("languages")
    return (within("countries", lead.company_country)
            and within("industries", lead.industry, fold=True)
            and within("products", lead.product, fold=True)
            and within("sizes", lead.size)
            and within("sources", lead.source)
            and (languages is None or (lead.language is not None and _primary(lead.language)
                                       in {_primary(x) for x in languages})))


def _members_query(rule_partners: dict[str, Any], lead: Any) -> tuple[str, dict[str, Any]] | None:
    """The SQL that lists the partners a rule's filter leaves for this lead, or None when the
    filter asks for something the lead does not say (its industry, its language)."""
    where = ["d.status = 'active'"]
    params: dict[str, Any] = {}
    if rule_partners.get("tiers"):
        where.append("d.tier = ANY(CAST(:tiers AS varchar[]))")
        params["tiers"] = rule_partners["tiers"]
    if rule_partners.get("types"):
        where.append("d.type = ANY(CAST(:types AS varchar[]))")
        params["types"] = rule_partners["types"]
    if rule_partners.get("certifications"):
        where.append("d.certifications @> CAST(:certifications AS varchar[])")
        params["certifications"] = rule_partners["certifications"]
    if rule_partners.get("specialisations"):
        where.append("d.specialisations && CAST(:specialisations AS varchar[])")
        params["specialisations"] = rule_partners["specialisations"]
    if rule_partners.get("serves_lead_country", True):
        where.append("(d.country = :country OR d.countries_served @> ARRAY[CAST(:country AS "
                     "varchar)])")
        params["country"] = lead.company_country
    if rule_partners.get("specialised_in_lead_industry"):
        if not lead.industry:
            return None
        where.append("EXISTS (SELECT 1 FROM unnest(d.specialisations) s "
                     "WHERE lower(s) = :industry)")
        params["industry"] = lead.industry.lower()
    if rule_partners.get("speaks_lead_language"):
        if not lead.language:
            return None
        where.append("EXISTS (SELECT 1 FROM unnest(d.languages) l "
                     "WHERE split_part(lower(l), '-', 1) = :language)")
        params["language"] = _primary(lead.language)
    sql = f"""
        SELECT d.partner_id, d.name, d.tier, coalesce(s.open_offers, 0) AS open_offers,
               s.max_open
        FROM partner_directory d
        LEFT JOIN lead_partner_settings s ON s.partner_id = d.partner_id
        WHERE {' AND '.join(where)}
          AND NOT (coalesce(s.paused, false)
                   AND (s.paused_until IS NULL OR s.paused_until > :now))
        ORDER BY d.partner_id
    """
    return sql, params


def _weights(rule: dict[str, Any], rows: Sequence[Any], lead: Any,
             model: propensity.PropensityModel | None) -> dict[uuid.UUID, int]:
    weighting = rule["weighting"]
    tiers = weighting.get("tier_weights") or {}
    default = int(weighting.get("default_weight") or 1)
    weights = {r.partner_id: int(tiers.get(r.tier, default)) if r.tier else default
               for r in rows}
    if weighting.get("propensity") and model is not None:
        for r in rows:
            estimate = model.estimate(r.partner_id, deal_type="new",
                                      country=lead.company_country, product=lead.product)
            chance = estimate.probability if estimate.probability is not None \
                else estimate.prior
            weights[r.partner_id] *= max(1, round(chance * 10))
    return weights


def _digest(weights: dict[uuid.UUID, int]) -> str:
    lines = "\n".join(f"{p}:{w}" for p, w in sorted(weights.items(), key=lambda i: i[0].int))
    return hashlib.sha256(lines.encode()).hexdigest()


async def _pool(connection: AsyncConnection | AsyncSession, rule: dict[str, Any], digest: str,
                members: int, now: dt.datetime, *, lock: bool) -> tuple[uuid.UUID | None, int,
                                                                      dict[uuid.UUID, int]]:
    """The pool's id, its leads given out and its counts (locked for the routing
    transaction; read only in a dry run, where a pool not made yet is empty)."""
    if lock:
        await connection.execute(text(
            "INSERT INTO lead_pools (id, rule_id, rule_version, digest, members, picks, "
            "created_at) VALUES (:id, :rule, :version, :digest, :members, 0, :now) "
            "ON CONFLICT (rule_id, rule_version, digest) DO NOTHING"),
            {"id": new_id(), "rule": rule["id"], "version": rule["version"], "digest": digest,
             "members": members, "now": now})
    row = (await connection.execute(text(
        "SELECT id, picks FROM lead_pools WHERE rule_id = :rule AND rule_version = :version "
        "AND digest = :digest" + (" FOR UPDATE" if lock else "")),
        {"rule": rule["id"], "version": rule["version"], "digest": digest})).first()
    if row is None:
        return None, 0, {}
    counts: dict[uuid.UUID, int] = dict((await connection.execute(text(
        "SELECT partner_id, assigned FROM lead_pool_counts WHERE pool_id = :pool"),
        {"pool": row.id})).all())
    return row.id, int(row.picks), counts


async def _period_offers(connection: AsyncConnection | AsyncSession, partner_id: uuid.UUID,
                         since: dt.datetime) -> int:
    return int((await connection.execute(text(
        "SELECT count(*) FROM lead_assignments WHERE partner_id = :partner "
        "AND offered_at >= :since"), {"partner": partner_id, "since": since})).scalar_one())


_TAKE = text("""
    INSERT INTO lead_partner_settings AS s (partner_id, paused, max_open, open_offers, version,
                                            updated_at)
    VALUES (:partner, false, NULL, 1, 1, :now)
    ON CONFLICT (partner_id) DO UPDATE SET open_offers = s.open_offers + 1
    WHERE CAST(:cap AS integer) IS NULL OR s.open_offers < CAST(:cap AS integer)
    RETURNING open_offers
""")


def _cap(*caps: int | None) -> int | None:
    known = [c for c in caps if c is not None]
    return min(known) if known else None


async def route(connection: AsyncConnection | AsyncSession, lead: Any, *, now: dt.datetime,
                excluded: dict[uuid.UUID, str], dry_run: bool = False,
                model: propensity.PropensityModel | None = None) -> Routed:
    """Route ``lead`` (a row of ``leads``, or anything with its columns). ``excluded`` names
    the partners it may not go to, with the reason. Nothing is written in a dry run."""
    rules = [dict(r._mapping) for r in (await connection.execute(_RULES)).all()]
    tried = 0
    for rule in rules:
        if not meets(rule["conditions"], lead):
            continue
        tried += 1
        query = _members_query(rule["partners"], lead)
        if query is None:
            continue
        sql, params = query
        rows = (await connection.execute(text(sql), {**params, "now": now})).all()
        if not rows:
            continue
        return await _choose(connection, rule, rows, lead, now=now, excluded=excluded,
                             dry_run=dry_run, model=model, tried=tried)
    return Routed(None, "no_rule_matched", LeadRoutingExplanation(
        rules_tried=tried, summary="No enabled routing rule matched the lead with any active "
        "partner left by its filter: it waits in the vendor's queue."))


async def _choose(connection: AsyncConnection | AsyncSession, rule: dict[str, Any],
                  rows: Sequence[Any], lead: Any, *, now: dt.datetime,
                  excluded: dict[uuid.UUID, str], dry_run: bool,
                  model: propensity.PropensityModel | None, tried: int) -> Routed:
    weights = _weights(rule, rows, lead, model)
    by_id = {r.partner_id: r for r in rows}
    pool_id, picks, counts = await _pool(connection, rule, _digest(weights), len(rows), now,
                                         lock=not dry_run)
    turns = order([Member(p, w, counts.get(p, 0)) for p, w in weights.items()], picks)
    capacity = rule["capacity"]
    since = now - dt.timedelta(days=int(capacity.get("period_days") or 30))
    shown: list[LeadCandidateOut] = []
    passed: dict[str, int] = {}
    chosen: Turn | None = None
    after = 0
    for place, turn in enumerate(turns):
        if chosen is not None:
            if after < AFTER_CHOSEN:
                shown.append(_candidate(turn, by_id, "not_reached", None, capacity))
                after += 1
            continue
        if place >= MAX_TURNS:
            break
        partner = turn.member.partner_id
        row = by_id[partner]
        cap = _cap(capacity.get("max_open"), row.max_open)
        reason = excluded.get(partner)
        if reason is None and cap is not None and row.open_offers >= cap:
            reason = "at_capacity"
        if reason is None and capacity.get("max_per_period") is not None and \
                await _period_offers(connection, partner, since) >= capacity["max_per_period"]:
            reason = "period_cap_reached"
        if reason is None and not dry_run:
            taken = (await connection.execute(_TAKE, {"partner": partner, "cap": cap,
                                                      "now": now})).first()
            if taken is None:
                reason = "at_capacity"
        if reason is not None:
            passed[reason] = passed.get(reason, 0) + 1
            if len(shown) < SHOWN - AFTER_CHOSEN - 1:
                shown.append(_candidate(turn, by_id, "passed_over", reason, capacity))
            continue
        chosen = turn
        shown.append(_candidate(turn, by_id, "chosen", None, capacity))
    explanation = LeadRoutingExplanation(
        rule_id=rule["id"], rule_version=rule["version"], rule_name=rule["name"],
        rules_tried=tried, pool_id=pool_id, pool_members=len(rows), pool_leads=picks,
        candidates=shown, passed_over=passed)
    if chosen is None:
        explanation.summary = (f"Rule '{rule['name']}' (version {rule['version']}) matched "
                               f"{len(rows)} partner(s), and none could take the lead now: "
                               "it waits in the vendor's queue.")
        return Routed(None, "no_candidate", explanation, rule, pool_id)
    partner = chosen.member.partner_id
    explanation.summary = (
        f"Rule '{rule['name']}' (version {rule['version']}) matched {len(rows)} partner(s); "
        f"it was {by_id[partner].name}'s turn by weight {chosen.member.weight} "
        f"({chosen.member.assigned} of the pool's {picks} leads so far)"
        + (f", after {sum(passed.values())} passed over" if passed else "") + ".")
    if not dry_run:
        assert pool_id is not None
        await connection.execute(text(
            "INSERT INTO lead_pool_counts AS c (pool_id, partner_id, assigned) "
            "VALUES (:pool, :partner, 1) ON CONFLICT (pool_id, partner_id) "
            "DO UPDATE SET assigned = c.assigned + 1"), {"pool": pool_id, "partner": partner})
        await connection.execute(text("UPDATE lead_pools SET picks = picks + 1 WHERE id = :id"),
                                 {"id": pool_id})
    return Routed(partner, "routed", explanation, rule, pool_id,
                  now + dt.timedelta(hours=int(rule["respond_within_hours"])), passed)


def _candidate(turn: Turn, by_id: dict[uuid.UUID, Any], outcome: str, reason: str | None,
               capacity: dict[str, Any]) -> LeadCandidateOut:
    row = by_id[turn.member.partner_id]
    return LeadCandidateOut(
        partner_id=row.partner_id, partner_name=row.name, weight=turn.member.weight,
        assigned=turn.member.assigned,
        entitled=str((Decimal(turn.entitled.numerator) / turn.entitled.denominator)
                     .quantize(Decimal("0.0001"))),
        open_offers=row.open_offers, max_open=_cap(capacity.get("max_open"), row.max_open),
        outcome=outcome, reason=reason if outcome == "passed_over" else
        ("not_due" if outcome == "not_reached" else None))
