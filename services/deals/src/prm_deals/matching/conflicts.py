"""Finding the registrations and direct accounts a customer conflicts with.

The database proposes candidates through indexes (same registrable domain; a shared blocking
key, ``normalise.blocks``: within the customer's country for registrations, in any country for
the vendor's account names; a shared initialism, looked up apart with its own limit) and
``score.compare`` decides. A registration
takes ``lock`` first, inside its transaction: two partners registering one customer at the
same instant wait on the same advisory locks (one per blocking key), so the second sees the
first's committed row and can never pass unseen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_deals.matching.aliases import known_company, table
from prm_deals.matching.normalise import candidate_blocks, domain_key, name_key
from prm_deals.matching.score import Customer, compare
from prm_deals.reasons import Reason
from prm_platform.db import asyncpg_connection

# The alias table is read when the service starts, not in its first registration's transaction.
table()

OPEN_STATUSES = ("submitted", "in_review", "approved")
# A score from here up is the same customer beyond reasonable doubt: first come, first served.
TRUE_CONFLICT = 0.95
MAX_CONFLICTS = 20
# The advisory-lock namespace of customer blocking keys ("DEAL").
_LOCK_CLASS = 0x4445414C


@dataclass(frozen=True)
class Conflict:
    """What the registering customer collides with (the vendor's view, stored with the deal)."""

    kind: str  # "registration" or "direct_account"
    id: uuid.UUID
    score: float
    reasons: list[Reason]
    customer_name: str
    partner_id: uuid.UUID | None = None
    status: str | None = None
    registered_at: dt.datetime | None = None
    protected_until: dt.date | None = None
    owner: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": str(self.id), "score": self.score,
                "reasons": [r.text for r in self.reasons],
                "reason_codes": [r.as_json() for r in self.reasons],
                "customer_name": self.customer_name,
                "partner_id": None if self.partner_id is None else str(self.partner_id),
                "status": self.status,
                "registered_at": None if self.registered_at is None
                else self.registered_at.isoformat(),
                "protected_until": None if self.protected_until is None
                else self.protected_until.isoformat(),
                "owner": self.owner}


def customer(name: str, domain: str | None, country: str) -> Customer:
    return Customer(name_key(name), domain_key(domain), country)


def _lock_key(kind: str, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{kind}:{key}".encode(), digest_size=4).digest(),
                          "big", signed=True)


async def lock(connection: AsyncConnection | AsyncSession, *customers: Customer) -> None:
    """Hold the customers' blocking keys until the transaction ends, taken in one order (so
    two writers sharing some keys cannot deadlock): the name key, the domain key, and the
    well-known company the name is one of (``현대자동차`` and ``Hyundai Motor`` queue on one
    lock)."""
    companies = (known_company(c.name_key) for c in customers)
    keys = sorted({_lock_key("name", c.name_key) for c in customers}
                  | {_lock_key("domain", c.domain_key) for c in customers if c.domain_key}
                  | {_lock_key("company", k.key) for k in companies if k is not None})
    await connection.execute(text(
        "SELECT count(pg_advisory_xact_lock(:class, k)) "
        "FROM (SELECT k FROM unnest(CAST(:keys AS integer[])) AS k ORDER BY k) AS keys"),
        {"class": _LOCK_CLASS, "keys": keys})


_OPEN = "status IN ('submitted', 'in_review', 'approved') AND protected_until >= CURRENT_DATE"
# The customers checked at once, numbered from 1, with their blocking keys and their initials'
# keys (``normalise.candidate_blocks``; as JSON arrays: one per customer).
_QUERIED = """q AS (
    SELECT q.name_key, q.domain_key, q.country, q.excluded, q.i,
           ARRAY(SELECT jsonb_array_elements_text(q.blocks)) AS blocks,
           ARRAY(SELECT jsonb_array_elements_text(q.account_blocks)) AS account_blocks,
           ARRAY(SELECT jsonb_array_elements_text(q.initials)) AS initials,
           ARRAY(SELECT jsonb_array_elements_text(q.account_initials)) AS account_initials
    FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::uuid[], $5::jsonb[],
                $6::jsonb[], $8::jsonb[], $9::jsonb[])
         WITH ORDINALITY AS q(name_key, domain_key, country, excluded, blocks, account_blocks,
                              initials, account_initials, i))"""
# The candidates' own columns come out of the index lookups themselves: joining back to the
# table by id made the planner hash the whole table.
_CANDIDATE = """id, partner_id, customer_name, customer_country, customer_name_key,
    customer_domain_key, status, created_at, protected_until"""
# Both run on the driver's connection (asyncpg), in the caller's transaction: a bulk push
# reads tens of thousands of candidate rows, and the SQL toolkit's row processing cost more
# than scoring them.
_REGISTRATIONS = f"""
    WITH {_QUERIED}
    SELECT q.i, d.* FROM q CROSS JOIN LATERAL (
        (SELECT {_CANDIDATE} FROM deals
         WHERE {_OPEN} AND customer_domain_key = q.domain_key LIMIT $7)
        UNION
        (SELECT {_CANDIDATE} FROM deals
         WHERE {_OPEN} AND customer_blocks && CAST(q.blocks AS varchar[]) LIMIT $7)
        UNION
        (SELECT {_CANDIDATE} FROM deals
         WHERE {_OPEN} AND customer_blocks && CAST(q.initials AS varchar[]) LIMIT $7)
    ) d
    WHERE q.excluded IS NULL OR d.id <> q.excluded
"""
_ACCOUNTS = f"""
    WITH {_QUERIED}
    SELECT q.i, a.id, a.name, a.country, a.domain_key, a.owner,
           (SELECT array_agg(n.name_key) FROM direct_account_names n
            WHERE n.account_id = a.id AND NOT n.alias) AS name_keys,
           (SELECT array_agg(n.name_key) FROM direct_account_names n
            WHERE n.account_id = a.id AND n.alias) AS alias_keys
    FROM q CROSS JOIN LATERAL (
        (SELECT id FROM direct_accounts WHERE domain_key = q.domain_key LIMIT $7)
        UNION
        (SELECT account_id FROM direct_account_names
         WHERE blocks && CAST(q.account_blocks AS varchar[]) LIMIT $7)
        UNION
        (SELECT account_id FROM direct_account_names
         WHERE blocks && CAST(q.account_initials AS varchar[]) LIMIT $7)
    ) c JOIN LATERAL (SELECT * FROM direct_accounts WHERE id = c.id) a ON TRUE
"""
# How many candidates per customer and way (a blocking key shared by more registrations than
# this is common enough that the first ones found stand for the rest).
CANDIDATES = 50


async def find(connection: AsyncConnection | AsyncSession, new: Customer, *,
               exclude: uuid.UUID | None = None) -> list[Conflict]:
    """The open registrations (within their protection period) and direct accounts that
    ``new`` conflicts with, best match first."""
    return (await find_many(connection, [new], exclude=[exclude]))[0]


async def find_many(connection: AsyncConnection | AsyncSession, customers: list[Customer], *,
                    exclude: list[uuid.UUID | None] | None = None) -> list[list[Conflict]]:
    """``find`` for many customers in two statements (a bulk push's)."""
    own = [candidate_blocks(c.name_key, c.country) for c in customers]
    accounts = [candidate_blocks(c.name_key, "*") for c in customers]
    args = ([c.name_key for c in customers], [c.domain_key for c in customers],
            [c.country for c in customers], exclude or [None] * len(customers),
            [orjson.dumps(k[0]).decode() for k in own],
            [orjson.dumps(k[0]).decode() for k in accounts], CANDIDATES,
            [orjson.dumps(k[1]).decode() for k in own],
            [orjson.dumps(k[1]).decode() for k in accounts])
    driver = await asyncpg_connection(connection)
    found: list[list[Conflict]] = [[] for _ in customers]
    for (i, id_, partner_id, name, country, name_key_, domain_key_, status, created_at,
         protected_until) in await driver.fetch(_REGISTRATIONS, *args):
        new = customers[i - 1]
        match = compare(new, Customer(name_key_, domain_key_, country))
        if match.conflict:
            found[i - 1].append(Conflict(
                kind="registration", id=id_, score=match.score, reasons=match.details,
                customer_name=name, partner_id=partner_id, status=status,
                registered_at=created_at, protected_until=protected_until))
    for row in await driver.fetch(_ACCOUNTS, *args):
        new = customers[row["i"] - 1]
        keys = tuple(row["name_keys"] or ())
        # An account without a country is named everywhere.
        known = Customer(keys[0] if keys else "", row["domain_key"], row["country"] or new.country)
        match = compare(new, known, known_names=keys[1:],
                        alias_names=tuple(row["alias_keys"] or ()))
        if match.conflict:
            found[row["i"] - 1].append(Conflict(
                kind="direct_account", id=row["id"], score=match.score, reasons=match.details,
                customer_name=row["name"], owner=row["owner"]))
    for conflicts in found:
        conflicts.sort(key=lambda c: (-c.score, c.kind, str(c.id)))
        del conflicts[MAX_CONFLICTS:]
    return found
