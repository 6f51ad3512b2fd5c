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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_deals.db import driver as raw_driver
from prm_deals.leads import propensity
from prm_deals.leads.fairness import Member, Turn, order
from prm_deals.leads.schemas import LeadCandidateOut, LeadRoutingExplanation
from prm_platform.ids import new_id

# How far down the order a lead is carried before it goes to the vendor's queue.
MAX_TURNS = 200
# Candidates kept in an explanation (the passed-over ones before the chosen, then a few more).
SHOWN = 25
AFTER_CHOSEN = 3

_RULES = """
    SELECT id, name, version, conditions, partners, weighting, capacity, respond_within_hours
    FROM lead_routing_rules WHERE enabled ORDER BY position, id LIMIT 200
"""


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


def _members_query(rule_partners: dict[str, Any], lead: Any, now: dt.datetime
                   ) -> tuple[str, list[Any]] | None:
    """The SQL (asyncpg's numbered parameters) that lists the partners a rule's filter leaves
    for this lead, or None when the filter asks for something the lead does not say (its
    industry, its language). The lead's country is found through the GIN index on each
    partner's markets (its countries served and its home country)."""
    where = ["d.status = 'active'"]
    args: list[Any] = [now]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if rule_partners.get("tiers"):
        where.append(f"d.tier = ANY({arg(rule_partners['tiers'])}::varchar[])")
    if rule_partners.get("types"):
        where.append(f"d.type = ANY({arg(rule_partners['types'])}::varchar[])")
    if rule_partners.get("certifications"):
        where.append(f"d.certifications @> {arg(rule_partners['certifications'])}::varchar[]")
    if rule_partners.get("specialisations"):
        where.append(f"d.specialisations && {arg(rule_partners['specialisations'])}::varchar[]")
    if rule_partners.get("serves_lead_country", True):
        where.append(f"d.markets @> ARRAY[{arg(lead.company_country)}::varchar]")
    if rule_partners.get("specialised_in_lead_industry"):
        if not lead.industry:
            return None
        where.append("EXISTS (SELECT 1 FROM unnest(d.specialisations) s "
                     f"WHERE lower(s) = {arg(lead.industry.lower())})")
    if rule_partners.get("speaks_lead_language"):
        if not lead.language:
            return None
        where.append("EXISTS (SELECT 1 FROM unnest(d.languages) l "
                     f"WHERE split_part(lower(l), '-', 1) = {arg(_primary(lead.language))})")
    sql = f"""
        SELECT d.partner_id, d.name, d.tier, coalesce(s.open_offers, 0) AS open_offers,
               s.max_open
        FROM partner_directory d
        LEFT JOIN lead_partner_settings s ON s.partner_id = d.partner_id
        WHERE {' AND '.join(where)}
          AND NOT (coalesce(s.paused, false) AND (s.paused_until IS NULL OR s.paused_until > $1))
        ORDER BY d.partner_id
    """
    return sql, args


def _weights(rule: dict[str, Any], rows: Sequence[Any], lead: Any,
             model: propensity.PropensityModel | None) -> dict[uuid.UUID, int]:
    """Each member's weight, in the members' order (by partner id)."""
    weighting = rule["weighting"]
    tiers = weighting.get("tier_weights") or {}
    default = int(weighting.get("default_weight") or 1)
    weights = {r["partner_id"]: int(tiers.get(r["tier"], default)) if r["tier"] else default
               for r in rows}
    if weighting.get("propensity") and model is not None:
        for partner in weights:
            estimate = model.estimate(partner, deal_type="new", country=lead.company_country,
                                      product=lead.product)
            chance = estimate.probability if estimate.probability is not None \
                else estimate.prior
            weights[partner] *= max(1, round(chance * 10))
    return weights


def _digest(weights: dict[uuid.UUID, int]) -> str:
    """The pool's identity: its members and their weights (in partner id order)."""
    digest = hashlib.sha256()
    for partner, weight in weights.items():
        digest.update(partner.bytes + weight.to_bytes(4, "big"))
    return digest.hexdigest()


# The pool, made if new and locked either way (an upsert that changes nothing locks the row it
# finds), with its counts: one round trip.
_POOL = """
    WITH pool AS (
        INSERT INTO lead_pools AS p (id, rule_id, rule_version, digest, members, picks,
                                     created_at)
        VALUES ($1, $2, $3, $4, $5, 0, $6)
        ON CONFLICT (rule_id, rule_version, digest) DO UPDATE SET picks = p.picks
        RETURNING id, picks
    )
    SELECT pool.id, pool.picks, c.partner_id, c.assigned
    FROM pool LEFT JOIN lead_pool_counts c ON c.pool_id = pool.id
"""
_POOL_READ = """
    SELECT p.id, p.picks, c.partner_id, c.assigned
    FROM lead_pools p LEFT JOIN lead_pool_counts c ON c.pool_id = p.id
    WHERE p.rule_id = $1 AND p.rule_version = $2 AND p.digest = $3
"""
# The chosen partner's count and the pool's, in one statement.
_COUNT = """
    WITH counted AS (
        INSERT INTO lead_pool_counts AS c (pool_id, partner_id, assigned) VALUES ($1, $2, 1)
        ON CONFLICT (pool_id, partner_id) DO UPDATE SET assigned = c.assigned + 1
    )
    UPDATE lead_pools SET picks = picks + 1 WHERE id = $1
"""


async def _pool(driver: Any, rule: dict[str, Any], digest: str, members: int,
                now: dt.datetime, *, lock: bool
                ) -> tuple[uuid.UUID | None, int, dict[uuid.UUID, int]]:
    """The pool's id, its leads given out and its counts (locked for the routing
    transaction; read only in a dry run, where a pool not made yet is empty)."""
    if lock:
        rows = await driver.fetch(_POOL, new_id(), rule["id"], rule["version"], digest,
                                  members, now)
    else:
        rows = await driver.fetch(_POOL_READ, rule["id"], rule["version"], digest)
    if not rows:
        return None, 0, {}
    counts = {r["partner_id"]: r["assigned"] for r in rows if r["partner_id"] is not None}
    return rows[0]["id"], int(rows[0]["picks"]), counts


_PERIOD_OFFERS = """
    SELECT count(*) FROM lead_assignments WHERE partner_id = $1 AND offered_at >= $2
"""


# A place under the partner's cap, taken only where one is left (the upsert's WHERE), so no
# race gives a partner more than its cap.
_TAKE = """
    INSERT INTO lead_partner_settings AS s (partner_id, paused, max_open, open_offers, version,
                                            updated_at)
    VALUES ($1, false, NULL, 1, 0, $3)
    ON CONFLICT (partner_id) DO UPDATE SET open_offers = s.open_offers + 1
    WHERE $2::integer IS NULL OR s.open_offers < $2::integer
    RETURNING open_offers
"""


def _cap(*caps: int | None) -> int | None:
    known = [c for c in caps if c is not None]
    return min(known) if known else None


ModelSource = Callable[[], Awaitable[propensity.PropensityModel]]


async def route(connection: AsyncConnection | AsyncSession, lead: Any, *, now: dt.datetime,
                excluded: dict[uuid.UUID, str], dry_run: bool = False,
                model: ModelSource | None = None) -> Routed:
    """Route ``lead`` (a row of ``leads``, or anything with its columns). ``excluded`` names
    the partners it may not go to, with the reason; ``model`` gives the win-propensity model
    when a rule weighs by it. Nothing is written in a dry run."""
    driver = await raw_driver(connection)
    rules = [dict(r) for r in await driver.fetch(_RULES)]
    tried = 0
    for rule in rules:
        for key in ("conditions", "partners", "weighting", "capacity"):
            if isinstance(rule[key], str):
                rule[key] = orjson.loads(rule[key])
        if not meets(rule["conditions"], lead):
            continue
        tried += 1
        query = _members_query(rule["partners"], lead, now)
        if query is None:
            continue
        sql, args = query
        rows = await driver.fetch(sql, *args)
        if not rows:
            continue
        fitted = await model() if model is not None and rule["weighting"].get("propensity") \
            else None
        return await _choose(driver, rule, rows, lead, now=now, excluded=excluded,
                             dry_run=dry_run, model=fitted, tried=tried)
    return Routed(None, "no_rule_matched", LeadRoutingExplanation(
        rules_tried=tried, summary="No enabled routing rule matched the lead with any active "
        "partner left by its filter: it waits in the vendor's queue."))


async def _choose(driver: Any, rule: dict[str, Any], rows: Sequence[Any], lead: Any, *,
                  now: dt.datetime, excluded: dict[uuid.UUID, str], dry_run: bool,
                  model: propensity.PropensityModel | None, tried: int) -> Routed:
    weights = _weights(rule, rows, lead, model)
    by_id = {r["partner_id"]: r for r in rows}
    pool_id, picks, counts = await _pool(driver, rule, _digest(weights), len(rows), now,
                                         lock=not dry_run)
    turns = order([Member(p, w, counts.get(p, 0)) for p, w in weights.items()], picks,
                  limit=MAX_TURNS + AFTER_CHOSEN + 1)
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
        cap = _cap(capacity.get("max_open"), row["max_open"])
        reason = excluded.get(partner)
        if reason is None and cap is not None and row["open_offers"] >= cap:
            reason = "at_capacity"
        if reason is None and capacity.get("max_per_period") is not None and \
                await driver.fetchval(_PERIOD_OFFERS, partner, since) \
                >= capacity["max_per_period"]:
            reason = "period_cap_reached"
        if reason is None and not dry_run and \
                await driver.fetchval(_TAKE, partner, cap, now) is None:
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
        f"it was {by_id[partner]['name']}'s turn by weight {chosen.member.weight} "
        f"({chosen.member.assigned} of the pool's {picks} leads so far)"
        + (f", after {sum(passed.values())} passed over" if passed else "") + ".")
    if not dry_run:
        await driver.execute(_COUNT, pool_id, partner)
    return Routed(partner, "routed", explanation, rule, pool_id,
                  now + dt.timedelta(hours=int(rule["respond_within_hours"])), passed)


def _candidate(turn: Turn, by_id: dict[uuid.UUID, Any], outcome: str, reason: str | None,
               capacity: dict[str, Any]) -> LeadCandidateOut:
    row = by_id[turn.member.partner_id]
    return LeadCandidateOut(
        partner_id=row["partner_id"], partner_name=row["name"], weight=turn.member.weight,
        assigned=turn.member.assigned,
        entitled=str((Decimal(turn.entitled.numerator) / turn.entitled.denominator)
                     .quantize(Decimal("0.0001"))),
        open_offers=row["open_offers"], max_open=_cap(capacity.get("max_open"),
                                                      row["max_open"]),
        outcome=outcome, reason=reason if outcome == "passed_over" else
        ("not_due" if outcome == "not_reached" else None))
