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

A pool of thousands would cost more to build for every lead than to route it, so each process
keeps what it found between leads (``_Kept``): a rule's members for a kind of lead, for as long
as the directory's generation (moved by every change of what routing reads) stays the same or
PostgreSQL's digest of them says they are, with their weights and digest; and a pool's members
grouped by weight and count, for as long as the pool row is the version this process last read
or wrote (its ``xmin``: another replica's pick, or a rolled-back one, is a version never
seen). Paused partners are read for every lead and
left out of the kept members; the partners' open offers and caps are read only for the turns a
routing looks at. A lead to a pool of ten thousand then costs what one to a pool of ten does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_deals.leads import propensity
from prm_deals.leads.fairness import Groups, Turn, order
from prm_deals.leads.schemas import LeadCandidateOut, LeadRoutingExplanation
from prm_platform.db import asyncpg_connection
from prm_platform.ids import new_id

# How far down the order a lead is carried before it goes to the vendor's queue.
MAX_TURNS = 200
# Candidates kept in an explanation (the passed-over ones before the chosen, then a few more).
SHOWN = 25
AFTER_CHOSEN = 3

# The rules, with the directory's generation read before any member is (a change committed
# after it makes the members kept under it merely look stale), and the partners paused now.
_RULES = """
    SELECT id, name, version, conditions, partners, weighting, capacity, respond_within_hours,
           (SELECT generation FROM lead_directory_state WHERE id = 1) AS generation,
           (SELECT coalesce(array_agg(partner_id), '{}') FROM lead_partner_settings
            WHERE paused AND (paused_until IS NULL OR paused_until > $1)) AS paused
    FROM lead_routing_rules WHERE enabled ORDER BY position, id LIMIT 200
"""
# Members kept per process, at most this many in all, once as rules' members and once in
# pools' groups (a pool of every partner of a large programme is about 2 MB).
KEPT_MEMBERS = 200_000
KEPT_POOLS = 256


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


# A rule's members for a lead (``_members_where``'s condition), in id order.
_MEMBERS = "SELECT d.partner_id, d.tier FROM partner_directory d WHERE {where} " \
           "ORDER BY d.partner_id"


def _digest_query(rule: dict[str, Any], where: str, args: list[Any]) -> tuple[str, list[Any]]:
    """The SQL of the digest ``_digest`` gives the members ``where`` leaves, weighed by tier as
    the rule weighs them (``_weights`` without propensity), worked out by PostgreSQL: the
    same bytes (each id's 16 and its weight's 4, big-endian, in id order) hashed the same."""
    weighting = rule["weighting"]
    default = int(weighting.get("default_weight") or 1)
    tiers, fallback = f"${len(args) + 1}", f"${len(args) + 2}"
    weight = (f"CASE WHEN coalesce(d.tier, '') = '' THEN {fallback}::integer ELSE "
              f"coalesce(({tiers}::jsonb ->> d.tier)::integer, {fallback}::integer) END")
    return (f"SELECT encode(sha256(coalesce(string_agg(uuid_send(d.partner_id) || "
            f"int4send({weight}), ''::bytea ORDER BY d.partner_id), ''::bytea)), 'hex') "
            f"FROM partner_directory d WHERE {where}",
            [*args, orjson.dumps(weighting.get("tier_weights") or {}).decode(), default])


def _members_where(rule_partners: dict[str, Any], lead: Any) -> tuple[str, list[Any]] | None:
    """The condition on the directory (``d``) of a rule's filter for this lead, with its
    parameters. The lead's country is found through the GIN index on each partner's markets
    (its countries served and its home country)."""
    where = ["d.status = 'active'"]
    args: list[Any] = []

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
    return " AND ".join(where), args


@dataclass
class _Found:
    """A rule's members for a kind of lead: each one's tier by partner id (as an integer, so
    that what is kept of a large pool is a dict the garbage collector need not walk), and
    (for weights that depend on the rule alone) their weights and the pool's digest, worked
    out once."""

    tiers: dict[int, str | None]
    # The directory's generation they were read at.
    generation: int | None
    weighed: tuple[dict[int, int], str] | None = None


class _Kept:
    """What a process keeps between leads, least recently used first out: members by
    (generation, rule version, members query), bounded by the members held; each pool's
    groups (``fairness.Groups``) with the pool row's version and leads they belong to."""

    def __init__(self) -> None:
        self.members: OrderedDict[tuple[Any, ...], _Found] = OrderedDict()
        self.held = 0
        self.pools: OrderedDict[uuid.UUID, tuple[str, int, Groups]] = OrderedDict()
        self.grouped = 0

    def find(self, key: tuple[Any, ...]) -> _Found | None:
        found = self.members.get(key)
        if found is not None:
            self.members.move_to_end(key)
        return found

    def keep(self, key: tuple[Any, ...], found: _Found) -> None:
        if len(found.tiers) > KEPT_MEMBERS:
            return
        replaced = self.members.pop(key, None)  # two leads that both missed keep it twice
        self.held += len(found.tiers) - (len(replaced.tiers) if replaced else 0)
        self.members[key] = found
        while self.held > KEPT_MEMBERS:
            _, dropped = self.members.popitem(last=False)
            self.held -= len(dropped.tiers)

    def groups(self, pool_id: uuid.UUID, version: str, picks: int) -> Groups | None:
        kept = self.pools.get(pool_id)
        if kept is None or kept[:2] != (version, picks):
            return None
        self.pools.move_to_end(pool_id)
        return kept[2]

    def keep_groups(self, pool_id: uuid.UUID, version: str, picks: int, groups: Groups
                    ) -> None:
        if groups.size > KEPT_MEMBERS:
            return
        replaced = self.pools.pop(pool_id, None)
        self.grouped += groups.size - (replaced[2].size if replaced else 0)
        self.pools[pool_id] = (version, picks, groups)
        while len(self.pools) > KEPT_POOLS or self.grouped > KEPT_MEMBERS:
            _, _, dropped = self.pools.popitem(last=False)[1]
            self.grouped -= dropped.size


_kept = _Kept()


def _weights(rule: dict[str, Any], tiers: dict[int, str | None], lead: Any,
             model: propensity.PropensityModel | None) -> dict[int, int]:
    """Each member's weight, by partner id (``uuid.UUID.int``), in the members' order."""
    weighting = rule["weighting"]
    weights_of = weighting.get("tier_weights") or {}
    default = int(weighting.get("default_weight") or 1)
    weights = {p: int(weights_of.get(tier, default)) if tier else default
               for p, tier in tiers.items()}
    if weighting.get("propensity") and model is not None:
        for partner in weights:
            estimate = model.estimate(uuid.UUID(int=partner), deal_type="new",
                                      country=lead.company_country, product=lead.product)
            chance = estimate.probability if estimate.probability is not None \
                else estimate.prior
            weights[partner] *= max(1, round(chance * 10))
    return weights


def _digest(weights: dict[int, int]) -> str:
    """The pool's identity: its members' ids (16 bytes each) and weights, in id order."""
    return hashlib.sha256(b"".join(partner.to_bytes(16, "big") + weight.to_bytes(4, "big")
                                   for partner, weight in sorted(weights.items()))).hexdigest()


# The pool locked for the routing's transaction (made first if new; a pool made by another
# transaction meanwhile is found on the second try), with the version of its row.
_POOL_LOCK = """
    SELECT id, picks, xmin::text AS version FROM lead_pools
    WHERE rule_id = $1 AND rule_version = $2 AND digest = $3 FOR UPDATE
"""
_POOL_MAKE = """
    INSERT INTO lead_pools (id, rule_id, rule_version, digest, members, picks, created_at)
    VALUES ($1, $2, $3, $4, $5, 0, $6) ON CONFLICT (rule_id, rule_version, digest) DO NOTHING
    RETURNING id, picks, xmin::text AS version
"""
_POOL_READ = """
    SELECT id, picks, xmin::text AS version FROM lead_pools
    WHERE rule_id = $1 AND rule_version = $2 AND digest = $3
"""
_POOL_COUNTS = "SELECT partner_id, assigned FROM lead_pool_counts WHERE pool_id = $1"
# The chosen partner's count and the pool's, in one statement: the pool row's new version.
_COUNT = """
    WITH counted AS (
        INSERT INTO lead_pool_counts AS c (pool_id, partner_id, assigned) VALUES ($1, $2, 1)
        ON CONFLICT (pool_id, partner_id) DO UPDATE SET assigned = c.assigned + 1
    )
    UPDATE lead_pools SET picks = picks + 1 WHERE id = $1 RETURNING xmin::text
"""


async def _pool(driver: Any, rule: dict[str, Any], weights: dict[int, int],
                digest: str, now: dt.datetime, *, lock: bool
                ) -> tuple[uuid.UUID | None, int, Groups]:
    """The pool's id, its leads given out and its members grouped by weight and count (locked
    for the routing transaction; read only in a dry run, where a pool not made yet is
    empty)."""
    key = (rule["id"], rule["version"], digest)
    if not lock:
        row = await driver.fetchrow(_POOL_READ, *key)
    else:
        row = await driver.fetchrow(_POOL_LOCK, *key)
        for _ in range(2):
            if row is not None:
                break
            row = await driver.fetchrow(_POOL_MAKE, new_id(), *key, len(weights), now)
            if row is None:
                row = await driver.fetchrow(_POOL_LOCK, *key)
        if row is None:
            raise RuntimeError("a lead pool could be neither made nor found")
    if row is None:
        return None, 0, Groups.of(weights, {})
    pool_id, picks, version = row["id"], int(row["picks"]), row["version"]
    groups = _kept.groups(pool_id, version, picks)
    if groups is None:
        counts = {r["partner_id"].int: r["assigned"]
                  for r in await driver.fetch(_POOL_COUNTS, pool_id)} if picks else {}
        groups = Groups.of(weights, counts)
        _kept.keep_groups(pool_id, version, picks, groups)
    return pool_id, picks, groups


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


# The names, open offers and own caps of the partners whose turns a routing looks at.
_LOOK = """
    SELECT d.partner_id, d.name, coalesce(s.open_offers, 0) AS open_offers, s.max_open
    FROM partner_directory d LEFT JOIN lead_partner_settings s ON s.partner_id = d.partner_id
    WHERE d.partner_id = ANY($1::uuid[])
"""
# Turns whose settings are read at once: the first few, then more if all are passed over.
_FIRST_LOOK, _NEXT_LOOK = 8, 64


def _kept_as(rule: dict[str, Any], where: str, args: list[Any]) -> tuple[Any, ...]:
    return (rule["id"], rule["version"], where,
            *(tuple(a) if isinstance(a, list) else a for a in args))


async def _members(driver: Any, rule: dict[str, Any], key: tuple[Any, ...], where: str,
                   args: list[Any]) -> _Found:
    """The rule's members for this lead: those kept, when read at the directory's generation
    now, or (weights by tier alone) when PostgreSQL's digest of the members now is the one
    kept, which a change of what routing reads of partners outside them, or of nothing it
    weighs, leaves as it was; else read afresh. No generation (its row gone): nothing would
    ever say the members changed, so nothing is kept."""
    generation = rule["generation"]
    kept = _kept.find(key) if generation is not None else None
    if kept is not None and kept.generation == generation:
        return kept
    if kept is not None and kept.weighed is not None and \
            not rule["weighting"].get("propensity"):
        sql, digest_args = _digest_query(rule, where, args)
        if await driver.fetchval(sql, *digest_args) == kept.weighed[1]:
            kept = dataclasses.replace(kept, generation=generation)
            _kept.keep(key, kept)
            return kept
    found = _Found({r["partner_id"].int: r["tier"]
                    for r in await driver.fetch(_MEMBERS.format(where=where), *args)},
                   generation)
    if generation is not None:
        _kept.keep(key, found)
    return found


async def route(connection: AsyncConnection | AsyncSession, lead: Any, *, now: dt.datetime,
                excluded: dict[uuid.UUID, str], dry_run: bool = False,
                model: ModelSource | None = None) -> Routed:
    """Route ``lead`` (a row of ``leads``, or anything with its columns). ``excluded`` names
    the partners it may not go to, with the reason; ``model`` gives the win-propensity model
    when a rule weighs by it. Nothing is written in a dry run."""
    driver = await asyncpg_connection(connection)
    rules = [dict(r) for r in await driver.fetch(_RULES, now)]
    paused = {p.int for p in rules[0]["paused"]} if rules else set()
    tried = 0
    for rule in rules:
        for key in ("conditions", "partners", "weighting", "capacity"):
            if isinstance(rule[key], str):
                rule[key] = orjson.loads(rule[key])
        if not meets(rule["conditions"], lead):
            continue
        tried += 1
        where = _members_where(rule["partners"], lead)
        if where is None:
            continue
        kept_as = _kept_as(rule, *where)
        found = await _members(driver, rule, kept_as, *where)
        resting = frozenset(p for p in paused if p in found.tiers)
        if resting:
            without = _kept.find((*kept_as, resting))
            if without is None or without.generation != found.generation:
                without = _Found({p: t for p, t in found.tiers.items() if p not in resting},
                                 found.generation)
                if found.generation is not None:
                    _kept.keep((*kept_as, resting), without)
            found = without
        if not found.tiers:
            continue
        fitted = await model() if model is not None and rule["weighting"].get("propensity") \
            else None
        return await _choose(driver, rule, found, lead, now=now, excluded=excluded,
                             dry_run=dry_run, model=fitted, tried=tried)
    return Routed(None, "no_rule_matched", LeadRoutingExplanation(
        rules_tried=tried, summary="No enabled routing rule matched the lead with any active "
        "partner left by its filter: it waits in the vendor's queue."))


async def _choose(driver: Any, rule: dict[str, Any], found: _Found, lead: Any, *,
                  now: dt.datetime, excluded: dict[uuid.UUID, str], dry_run: bool,
                  model: propensity.PropensityModel | None, tried: int) -> Routed:
    members = len(found.tiers)
    if model is not None:  # weights of this lead's own
        weights = _weights(rule, found.tiers, lead, model)
        digest = _digest(weights)
    else:
        if found.weighed is None:
            weights = _weights(rule, found.tiers, lead, None)
            found.weighed = weights, _digest(weights)
        weights, digest = found.weighed
    pool_id, picks, groups = await _pool(driver, rule, weights, digest, now, lock=not dry_run)
    turns = order(groups, picks, limit=MAX_TURNS + AFTER_CHOSEN + 1)
    capacity = rule["capacity"]
    since = now - dt.timedelta(days=int(capacity.get("period_days") or 30))
    seen: dict[uuid.UUID, _Look] = {}
    looked = 0

    async def look(place: int) -> _Look:
        """The partner at ``place``: its name, open offers and own cap, read with the next
        few."""
        nonlocal looked
        if place >= looked:
            upto = min(len(turns), place + (_FIRST_LOOK if not looked else _NEXT_LOOK)
                       + AFTER_CHOSEN)
            ids = [t.member.partner_id for t in turns[looked:upto]]
            seen.update({r["partner_id"]: _Look(r["name"], r["open_offers"], r["max_open"])
                         for r in await driver.fetch(_LOOK, ids)})
            looked = upto
        partner_id = turns[place].member.partner_id
        return seen.get(partner_id, _Look(str(partner_id), 0, None))

    shown: list[LeadCandidateOut] = []
    passed: dict[str, int] = {}
    chosen: Turn | None = None
    chosen_name = ""
    after = 0
    for place, turn in enumerate(turns):
        if chosen is not None:
            if after < AFTER_CHOSEN:
                shown.append(_candidate(turn, await look(place), "not_reached", None,
                                        capacity))
                after += 1
            continue
        if place >= MAX_TURNS:
            break
        partner = turn.member.partner_id
        looks = await look(place)
        cap = _cap(capacity.get("max_open"), looks.max_open)
        reason = excluded.get(partner)
        if reason is None and cap is not None and looks.open_offers >= cap:
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
                shown.append(_candidate(turn, looks, "passed_over", reason, capacity))
            continue
        chosen, chosen_name = turn, looks.name
        shown.append(_candidate(turn, looks, "chosen", None, capacity))
    explanation = LeadRoutingExplanation(
        rule_id=rule["id"], rule_version=rule["version"], rule_name=rule["name"],
        rules_tried=tried, pool_id=pool_id, pool_members=members, pool_leads=picks,
        candidates=shown, passed_over=passed)
    if chosen is None:
        explanation.summary = (f"Rule '{rule['name']}' (version {rule['version']}) matched "
                               f"{members} partner(s), and none could take the lead now: "
                               "it waits in the vendor's queue.")
        return Routed(None, "no_candidate", explanation, rule, pool_id)
    partner = chosen.member.partner_id
    explanation.summary = (
        f"Rule '{rule['name']}' (version {rule['version']}) matched {members} partner(s); "
        f"it was {chosen_name}'s turn by weight {chosen.member.weight} "
        f"({chosen.member.assigned} of the pool's {picks} leads so far)"
        + (f", after {sum(passed.values())} passed over" if passed else "") + ".")
    if not dry_run:
        assert pool_id is not None
        version = await driver.fetchval(_COUNT, pool_id, partner)
        # The groups as this transaction leaves them, kept under the row version it wrote:
        # found again only once that version is committed (a copy: the kept ones stay as the
        # version they belong to).
        moved = groups.copy()
        moved.move(partner, chosen.member.weight, chosen.member.assigned)
        _kept.keep_groups(pool_id, version, picks + 1, moved)
    return Routed(partner, "routed", explanation, rule, pool_id,
                  now + dt.timedelta(hours=int(rule["respond_within_hours"])), passed)


class _Look(NamedTuple):
    name: str
    open_offers: int
    max_open: int | None


def _candidate(turn: Turn, looks: _Look, outcome: str, reason: str | None,
               capacity: dict[str, Any]) -> LeadCandidateOut:
    return LeadCandidateOut(
        partner_id=turn.member.partner_id, partner_name=looks.name, weight=turn.member.weight,
        assigned=turn.member.assigned,
        entitled=str((Decimal(turn.entitled.numerator) / turn.entitled.denominator)
                     .quantize(Decimal("0.0001"))),
        open_offers=looks.open_offers, max_open=_cap(capacity.get("max_open"), looks.max_open),
        outcome=outcome, reason=reason if outcome == "passed_over" else
        ("not_due" if outcome == "not_reached" else None))
