"""Finding the registrations and direct accounts a customer conflicts with.

The database proposes candidates through indexes (same registrable domain; trigram-close name
keys within the customer's country, the vendor's account names in any country) and
``score.compare`` decides. A registration takes ``lock`` first, inside its transaction: two
partners registering one customer at the same instant wait on the same advisory locks (one per
blocking key), so the second sees the first's committed row and can never pass unseen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_deals.matching.normalise import domain_key, name_key
from prm_deals.matching.score import Customer, compare

OPEN_STATUSES = ("submitted", "in_review", "approved")
# A score from here up is the same customer beyond reasonable doubt: first come, first served.
TRUE_CONFLICT = 0.95
CANDIDATES = 50
MAX_CONFLICTS = 20
# The advisory-lock namespace of customer blocking keys ("DEAL").
_LOCK_CLASS = 0x4445414C


@dataclass(frozen=True)
class Conflict:
    """What the registering customer collides with (the vendor's view, stored with the deal)."""

    kind: str  # "registration" or "direct_account"
    id: uuid.UUID
    score: float
    reasons: list[str]
    customer_name: str
    partner_id: uuid.UUID | None = None
    status: str | None = None
    registered_at: dt.datetime | None = None
    protected_until: dt.date | None = None
    owner: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for field in ("id", "partner_id", "registered_at", "protected_until"):
            if data[field] is not None:
                data[field] = str(data[field]) if field != "registered_at" \
                    else data[field].isoformat()
        return data


def customer(name: str, domain: str | None, country: str) -> Customer:
    return Customer(name_key(name), domain_key(domain), country)


def _lock_key(kind: str, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{kind}:{key}".encode(), digest_size=4).digest(),
                          "big", signed=True)


async def lock(connection: AsyncConnection | AsyncSession, new: Customer) -> None:
    """Hold the customer's blocking keys until the transaction ends (sorted: no deadlock
    between two registrations that share one key of two)."""
    keys = sorted({_lock_key("name", new.name_key)} |
                  ({_lock_key("domain", new.domain_key)} if new.domain_key else set()))
    calls = ", ".join(f"pg_advisory_xact_lock({_LOCK_CLASS}, :k{i})" for i in range(len(keys)))
    await connection.execute(text(f"SELECT {calls}"), {f"k{i}": k for i, k in enumerate(keys)})


_NAME_CLOSE = ("({column} % CAST(:name_key AS varchar) OR {column} %> CAST(:name_key AS varchar)"
               " OR {column} <% CAST(:name_key AS varchar))")
_OPEN = "status IN ('submitted', 'in_review', 'approved') AND protected_until >= CURRENT_DATE"
_REGISTRATIONS = text(f"""
    SELECT id, partner_id, customer_name, customer_country, customer_name_key,
           customer_domain_key, status, created_at, protected_until
    FROM deals WHERE id IN (
        (SELECT id FROM deals WHERE {_OPEN} AND customer_domain_key = :domain_key LIMIT :n)
        UNION
        (SELECT id FROM deals
         WHERE {_OPEN} AND customer_country = :country
           AND {_NAME_CLOSE.format(column="customer_name_key")}
         ORDER BY similarity(customer_name_key, CAST(:name_key AS varchar)) DESC LIMIT :n))
      AND (CAST(:exclude AS uuid) IS NULL OR id <> CAST(:exclude AS uuid))
""")
_ACCOUNTS = text(f"""
    SELECT a.id, a.name, a.country, a.domain_key, a.owner,
           array_agg(n.name_key) FILTER (WHERE NOT n.alias) AS name_keys,
           array_agg(n.name_key) FILTER (WHERE n.alias) AS alias_keys
    FROM direct_accounts a JOIN direct_account_names n ON n.account_id = a.id
    WHERE a.id IN (
        (SELECT id FROM direct_accounts WHERE domain_key = :domain_key LIMIT :n)
        UNION
        (SELECT account_id FROM direct_account_names
         WHERE {_NAME_CLOSE.format(column="name_key")}
         ORDER BY similarity(name_key, CAST(:name_key AS varchar)) DESC LIMIT :n))
    GROUP BY a.id
""")


async def find(connection: AsyncConnection | AsyncSession, new: Customer, *,
               exclude: uuid.UUID | None = None) -> list[Conflict]:
    """The open registrations (within their protection period) and direct accounts that
    ``new`` conflicts with, best match first."""
    params = {"name_key": new.name_key, "domain_key": new.domain_key, "country": new.country,
              "n": CANDIDATES}
    found: list[Conflict] = []
    for row in await connection.execute(_REGISTRATIONS, {**params, "exclude": exclude}):
        match = compare(new, Customer(row.customer_name_key, row.customer_domain_key,
                                      row.customer_country))
        if match.conflict:
            found.append(Conflict(
                kind="registration", id=row.id, score=match.score, reasons=match.reasons,
                customer_name=row.customer_name, partner_id=row.partner_id, status=row.status,
                registered_at=row.created_at, protected_until=row.protected_until))
    for row in await connection.execute(_ACCOUNTS, params):
        keys = tuple(row.name_keys or ())
        # An account without a country is named everywhere.
        known = Customer(keys[0] if keys else "", row.domain_key, row.country or new.country)
        match = compare(new, known, known_names=keys[1:],
                        alias_names=tuple(row.alias_keys or ()))
        if match.conflict:
            found.append(Conflict(kind="direct_account", id=row.id, score=match.score,
                                  reasons=match.reasons, customer_name=row.name,
                                  owner=row.owner))
    found.sort(key=lambda c: (-c.score, c.kind, str(c.id)))
    return found[:MAX_CONFLICTS]
