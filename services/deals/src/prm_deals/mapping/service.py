"""Account mapping: each side's populations uploaded in bulk, the partnerships (double opt-in,
sharing levels), and the overlaps, found by the deal registration's own matcher and kept
current as either side's lists change.

Overlaps are computed between the vendor's accounts and those of partners in an active
partnership only: in full when a partnership becomes active, then for the accounts each upload
adds. What a side may see of them is decided when it reads (``reads.py``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_deals.leads import service as leads
from prm_deals.leads.schemas import LeadAssignIn, LeadCompany, LeadIn
from prm_deals.mapping.models import MappedAccount, MappingPartnership
from prm_deals.mapping.schemas import (
    LEVELS,
    POPULATIONS,
    CoSellIn,
    CoSellOut,
    MappedAccountIn,
    MappingSharingIn,
)
from prm_deals.matching.normalise import domain_key, match_blocks, name_key
from prm_deals.matching.score import Customer, compare
from prm_deals.registrations import coselling
from prm_deals.registrations import service as registrations
from prm_deals.registrations.schemas import DealRegistration
from prm_platform.db import asyncpg_connection
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.problems import NotFound, Unprocessable
from prm_platform.security import Principal

VENDOR = "vendor"
# A blocking key that more of one side's accounts share than this is too common to say
# anything (a frequent word): the pairs it would make are not scored.
COMMON_KEY = 50
CANDIDATES = 200


def owner_of(caller: Principal) -> str:
    return str(caller.partner_id) if caller.is_partner else VENDOR


def worth_scoring(shared: set[str]) -> bool:
    """Whether two accounts sharing these keys are worth the matcher's score: a shared domain,
    name core, sound or initials key; two whole words; or a word with a letter off (its
    deletion keys, ``d``, without the word itself). One whole word in common, and nothing
    else, is how most pairs of unrelated companies meet, and none of them scores as one."""
    words = sum("|w|" in key for key in shared)
    typos = sum("|d|" in key for key in shared)
    return (len(shared) > words + typos or words >= 2 or (words == 0 and typos > 0))


def match_keys(name: str, domain: str | None) -> tuple[str, str | None, list[str]]:
    """The name key, the domain key and the blocking keys an account is found by."""
    key = name_key(name)
    domain_k = domain_key(domain)
    found = match_blocks(key, "*")
    if domain_k:
        found.append(f"d:{domain_k}")
    return key, domain_k, found


@dataclass
class Outcome:
    index: int
    outcome: str  # created, updated, unchanged, removed
    account_id: uuid.UUID | None


_CURRENT = text("""
    SELECT id, population, crm_id, name, domain, country FROM mapped_accounts
    WHERE owner = :owner AND removed_at IS NULL AND crm_id = ANY(:crm_ids)""")


async def upsert(session: AsyncSession, owner: str, items: Sequence[tuple[int, MappedAccountIn]]
                 ) -> list[Outcome]:
    """Apply a batch of one side's accounts (upsert by population and CRM id, removals; one
    item per CRM id and population):
    changed or removed accounts end their row, changed and new ones start one; the overlaps of
    the new rows are found at once."""
    now = dt.datetime.now(dt.UTC)
    found_rows = await session.execute(
        _CURRENT, {"owner": owner, "crm_ids": sorted({i.crm_id for _, i in items})})
    current: dict[tuple[str, str], Any] = {(r.population, r.crm_id): r for r in found_rows}
    ended: list[uuid.UUID] = []
    rows: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    for index, item in items:
        found = current.get((item.population, item.crm_id))
        if item.remove:
            if found is not None:
                ended.append(found.id)
            outcomes.append(Outcome(index, "removed" if found else "unchanged",
                                    found.id if found else None))
            continue
        if found is not None and (found.name, found.domain, found.country) == (
                item.name, item.domain, item.country):
            outcomes.append(Outcome(index, "unchanged", found.id))
            continue
        if found is not None:
            ended.append(found.id)
        assert item.name is not None  # required unless removed
        key, domain_k, keys = match_keys(item.name, item.domain)
        row: dict[str, Any] = {"id": new_id(), "owner": owner, "population": item.population,
               "crm_id": item.crm_id, "name": item.name, "domain": item.domain,
               "country": item.country, "name_key": key, "domain_key": domain_k,
               "keys": keys, "created_at": now, "removed_at": None}
        rows.append(row)
        outcomes.append(Outcome(index, "updated" if found else "created", row["id"]))
    if ended:
        await session.execute(text(
            "UPDATE mapped_accounts SET removed_at = :now WHERE id = ANY(:ids)"),
            {"now": now, "ids": ended})
    if rows:
        await session.execute(insert(MappedAccount), rows)
        await map_accounts(session, [r["id"] for r in rows], owner)
    return outcomes


# --- overlaps --------------------------------------------------------------------------------

_ACTIVE = text("""
    SELECT partner_id FROM mapping_partnerships
    WHERE vendor_opted_in_at IS NOT NULL AND partner_opted_in_at IS NOT NULL""")

_INCREMENTAL = """
    SELECT n.id AS new_id, n.owner AS new_owner, n.name_key AS new_name,
           n.domain_key AS new_domain, n.country AS new_country, n.keys AS new_keys,
           c.id, c.owner, c.name_key, c.domain_key, c.country, c.keys
    FROM mapped_accounts n CROSS JOIN LATERAL (
        SELECT id, owner, name_key, domain_key, country, keys FROM mapped_accounts m
        WHERE m.keys && n.keys AND m.removed_at IS NULL AND m.owner = ANY($2::varchar[])
        LIMIT $3) c
    WHERE n.id = ANY($1::uuid[])"""

_FULL = """
    WITH p AS (SELECT id, unnest(keys) AS k FROM mapped_accounts
               WHERE owner = $1 AND removed_at IS NULL),
    v AS (SELECT id, unnest(keys) AS k FROM mapped_accounts
          WHERE owner = 'vendor' AND removed_at IS NULL),
    common AS (SELECT k FROM v GROUP BY k HAVING count(*) > $2
               UNION SELECT k FROM p GROUP BY k HAVING count(*) > $2),
    pairs AS (SELECT v.id AS vid, p.id AS pid FROM p JOIN v USING (k)
              WHERE NOT EXISTS (SELECT 1 FROM common WHERE common.k = p.k)
              GROUP BY v.id, p.id
              -- worth_scoring(): a key of another kind, two whole words, or a word's
              -- deletion keys without the word
              HAVING bool_or(strpos(k, '|w|') = 0 AND strpos(k, '|d|') = 0)
                  OR count(*) FILTER (WHERE strpos(k, '|w|') > 0) >= 2
                  OR (count(*) FILTER (WHERE strpos(k, '|w|') > 0) = 0
                      AND count(*) FILTER (WHERE strpos(k, '|d|') > 0) > 0))
    SELECT a.id AS new_id, a.owner AS new_owner, a.name_key AS new_name,
           a.domain_key AS new_domain, a.country AS new_country,
           b.id, b.owner, b.name_key, b.domain_key, b.country
    FROM pairs JOIN mapped_accounts a ON a.id = pairs.pid
    JOIN mapped_accounts b ON b.id = pairs.vid"""

_INSERT_OVERLAPS = """
    INSERT INTO account_overlaps (id, vendor_account_id, partner_account_id, partner_id, score,
                                  basis)
    SELECT * FROM unnest($6::uuid[], $1::uuid[], $2::uuid[], $3::uuid[], $4::float8[],
                         $5::varchar[])
    ON CONFLICT (vendor_account_id, partner_account_id) DO NOTHING"""


async def _store(session: AsyncSession, rows: Iterable[Any]) -> int:
    """Score candidate pairs with the deal registration's matcher; keep those it calls one
    company."""
    found: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, float, str]] = {}
    for row in rows:
        if "new_keys" in row and not worth_scoring(set(row["new_keys"]) & set(row["keys"])):
            continue
        new = Customer(row["new_name"], row["new_domain"], row["new_country"] or row["country"]
                       or "")
        known = Customer(row["name_key"], row["domain_key"], row["country"] or new.country)
        match = compare(new, known)
        if not match.conflict:
            continue
        if row["new_owner"] == VENDOR:
            vendor_id, partner_id, partner = row["new_id"], row["id"], row["owner"]
        else:
            vendor_id, partner_id, partner = row["id"], row["new_id"], row["new_owner"]
        basis = "domain" if any(r.code == "same_domain" for r in match.details) else "name"
        found[(vendor_id, partner_id)] = (uuid.UUID(partner), match.score, basis)
    if found:
        keys = list(found)
        driver = await asyncpg_connection(session)
        await driver.execute(_INSERT_OVERLAPS, [k[0] for k in keys], [k[1] for k in keys],
                             [found[k][0] for k in keys], [found[k][1] for k in keys],
                             [found[k][2] for k in keys], [new_id() for _ in keys])
    return len(found)


async def map_accounts(session: AsyncSession, ids: list[uuid.UUID], owner: str) -> int:
    """The overlaps of new accounts of ``owner``: a partner's against the vendor's (when its
    partnership is active), the vendor's against every active partner's."""
    active = [str(r.partner_id) for r in await session.execute(_ACTIVE)]
    others = active if owner == VENDOR else ([VENDOR] if owner in active else [])
    if not others or not ids:
        return 0
    driver = await asyncpg_connection(session)
    return await _store(session, await driver.fetch(_INCREMENTAL, ids, others, CANDIDATES))


async def map_partnership(session: AsyncSession, partner_id: uuid.UUID) -> int:
    """Every overlap of a partnership, computed in full (it became active)."""
    await session.execute(text("DELETE FROM account_overlaps WHERE partner_id = :p"),
                          {"p": partner_id})
    driver = await asyncpg_connection(session)
    return await _store(session, await driver.fetch(_FULL, str(partner_id), COMMON_KEY))


# --- partnerships ------------------------------------------------------------------------------

def _hidden() -> dict[str, str]:
    return {population: "hidden" for population in POPULATIONS}


async def partnership(session: AsyncSession, caller: Principal, partner_id: uuid.UUID,
                      *, for_update: bool = False) -> MappingPartnership:
    caller.ensure_visible(partner_id, "mapping partnership")
    statement = select(MappingPartnership).where(MappingPartnership.partner_id == partner_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise NotFound("mapping partnership not found: neither side opted in")
    return row


async def opt_in(session: AsyncSession, caller: Principal, partner_id: uuid.UUID,
                 body: MappingSharingIn, if_match: str | None) -> MappingPartnership:
    """The caller's side opts in (or changes its sharing levels); active once both did."""
    caller.ensure_visible(partner_id, "mapping partnership")
    await _ensure_partner(session, partner_id)
    now = dt.datetime.now(dt.UTC)
    await session.execute(text("""
        INSERT INTO mapping_partnerships (partner_id, vendor_sharing, partner_sharing, version,
                                          updated_at)
        VALUES (:p, CAST(:hidden AS jsonb), CAST(:hidden AS jsonb), 0, :now)
        ON CONFLICT (partner_id) DO NOTHING"""),
        {"p": partner_id, "hidden": orjson.dumps(_hidden()).decode(), "now": now})
    row = await partnership(session, caller, partner_id, for_update=True)
    check_if_match(if_match, row.version)
    was_active = _active(row)
    sharing: dict[str, str] = {**_hidden(), **{k: v.value for k, v in body.sharing.items()}}
    opted, shared = ((row.partner_opted_in_at, row.partner_sharing) if caller.is_partner
                     else (row.vendor_opted_in_at, row.vendor_sharing))
    if opted is not None and shared == sharing:
        return row  # nothing changes
    if caller.is_partner:
        row.partner_sharing, row.partner_opted_in_at = sharing, row.partner_opted_in_at or now
    else:
        row.vendor_sharing, row.vendor_opted_in_at = sharing, row.vendor_opted_in_at or now
    row.version += 1
    row.updated_at = now
    await session.flush()
    if _active(row) and not was_active:
        await map_partnership(session, partner_id)
        row.mapped_at = dt.datetime.now(dt.UTC)
        await session.flush()
    return row


async def opt_out(session: AsyncSession, caller: Principal, partner_id: uuid.UUID,
                  if_match: str | None) -> MappingPartnership:
    """The caller's side opts out: the partnership is no longer active, nothing is shared,
    and its overlaps are forgotten."""
    row = await partnership(session, caller, partner_id, for_update=True)
    check_if_match(if_match, row.version)
    if (row.partner_opted_in_at if caller.is_partner else row.vendor_opted_in_at) is None:
        return row  # out already
    if caller.is_partner:
        row.partner_opted_in_at, row.partner_sharing = None, _hidden()
    else:
        row.vendor_opted_in_at, row.vendor_sharing = None, _hidden()
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    await session.execute(text("DELETE FROM account_overlaps WHERE partner_id = :p"),
                          {"p": partner_id})
    await session.flush()
    return row


def _active(row: MappingPartnership) -> bool:
    return row.vendor_opted_in_at is not None and row.partner_opted_in_at is not None


async def _ensure_partner(session: AsyncSession, partner_id: uuid.UUID) -> None:
    known = await session.scalar(text(
        "SELECT 1 FROM partner_directory WHERE partner_id = :p"), {"p": partner_id})
    if known is None:
        raise NotFound("partner not found")


def level_rank(level: str) -> int:
    return LEVELS.index(level)


# --- jobs ------------------------------------------------------------------------------------

DIRECT = "direct:"
_DIRECT_CHANGED = text("""
    SELECT d.id, d.name, d.domain, d.country FROM direct_accounts d
    LEFT JOIN mapped_accounts m ON m.owner = 'vendor' AND m.population = 'customers'
        AND m.crm_id = 'direct:' || d.id::text AND m.removed_at IS NULL
    WHERE m.id IS NULL OR (m.name, m.domain, m.country) IS DISTINCT FROM
                          (d.name, d.domain, d.country)
    ORDER BY d.id LIMIT :batch""")
_DIRECT_GONE = text("""
    SELECT m.crm_id FROM mapped_accounts m
    WHERE m.owner = 'vendor' AND m.population = 'customers' AND m.removed_at IS NULL
      AND m.crm_id LIKE 'direct:%'
      AND NOT EXISTS (SELECT 1 FROM direct_accounts d
                      WHERE 'direct:' || d.id::text = m.crm_id)
    LIMIT :batch""")


async def sync_direct_accounts(session: AsyncSession, batch: int = 1000) -> int:
    """The vendor's direct accounts are its `customers` population too (CRM id
    ``direct:<id>``): new and changed ones upserted, deleted ones removed, a batch per run."""
    items: list[MappedAccountIn] = []
    for row in await session.execute(_DIRECT_CHANGED, {"batch": batch}):
        items.append(MappedAccountIn(crm_id=f"{DIRECT}{row.id}", population="customers",
                                     name=row.name, domain=row.domain, country=row.country))
    for row in await session.execute(_DIRECT_GONE, {"batch": batch}):
        items.append(MappedAccountIn(crm_id=row.crm_id, population="customers", remove=True))
    await upsert(session, VENDOR, list(enumerate(items)))
    return len(items)


async def purge(session: AsyncSession, settle_days: int, batch: int = 1000) -> int:
    """Rows ended longer ago than the settling time count nowhere any more: they go, with
    their overlaps."""
    result = await session.execute(text("""
        DELETE FROM mapped_accounts WHERE id IN (
            SELECT id FROM mapped_accounts
            WHERE removed_at < now() - make_interval(days => :days + 1) LIMIT :batch)"""),
        {"days": settle_days, "batch": batch})
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- co-selling from an overlap ------------------------------------------------------------------

_OVERLAP = text("""
    SELECT o.id, o.partner_id, p.population AS p_population, p.name AS p_name,
           p.domain AS p_domain, p.country AS p_country, v.population AS v_population,
           v.name AS v_name, v.domain AS v_domain, v.country AS v_country
    FROM account_overlaps o
    JOIN mapped_accounts p ON p.id = o.partner_account_id AND p.removed_at IS NULL
    JOIN mapped_accounts v ON v.id = o.vendor_account_id AND v.removed_at IS NULL
    WHERE o.id = :id AND o.partner_id = :partner_id""")


async def co_sell(session: AsyncSession, caller: Principal, partner_id: uuid.UUID,
                  overlap_id: uuid.UUID, body: CoSellIn, protection_days: int) -> CoSellOut:
    """An overlap the caller may see starts a co-sell: the partner's deal registration for the
    company (by the partner, or by the vendor for it, with the vendor's account executive), or
    a lead the vendor offers the partner."""
    row = await partnership(session, caller, partner_id)
    found = (await session.execute(_OVERLAP, {"id": overlap_id, "partner_id": partner_id})
             ).one_or_none()
    if found is None or not _active(row):
        raise NotFound("overlap not found")
    levels = row.vendor_sharing if caller.is_partner else row.partner_sharing
    theirs = found.v_population if caller.is_partner else found.p_population
    if level_rank(levels.get(theirs, "hidden")) < level_rank("overlaps"):
        raise NotFound("overlap not found")
    note = body.notes or "Co-sell started from account mapping."
    if body.kind == "lead":
        caller.ensure_vendor()
        lead, _ = await leads.submit(session, caller, LeadIn(
            company=LeadCompany(name=found.v_name, domain=_domain(found.v_domain,
                                                                  found.p_domain),
                                country=_country(found.v_country, found.p_country)),
            estimated_amount=body.amount, notes=note, route=False), intake=False)
        lead = await leads.assign(session, caller, lead.id, LeadAssignIn(
            partner_id=partner_id, note=note), None)
        return CoSellOut(kind="lead", lead_id=lead.id, status=lead.status)
    if body.amount is None or body.expected_close_date is None:
        raise Unprocessable("a registration needs its amount and expected close date", errors=[
            {"location": "body", "field": f, "message": "required for a registration"}
            for f in ("amount", "expected_close_date")
            if getattr(body, f) is None])
    deal = await registrations.register_here(session, caller, DealRegistration.model_validate({
        "partner_id": None if caller.is_partner else partner_id,
        "customer": {"name": found.p_name, "domain": _domain(found.p_domain, found.v_domain),
                     "country": _country(found.p_country, found.v_country)},
        "amount": body.amount.model_dump(mode="json"),
        "expected_close_date": body.expected_close_date.isoformat(), "notes": note}),
        protection_days)
    if body.account_executive and not caller.is_partner:
        deal = await coselling.assign(session, caller, deal.id, body.account_executive, None)
    return CoSellOut(kind="registration", deal_id=deal.id, status=deal.status)


def _domain(*found: str | None) -> str:
    for domain in found:
        if domain:
            return domain
    raise Unprocessable("the overlapping accounts name no domain: register the deal itself")


def _country(*found: str | None) -> str:
    for country in found:
        if country:
            return country
    raise Unprocessable("the overlapping accounts name no country: register the deal itself")
