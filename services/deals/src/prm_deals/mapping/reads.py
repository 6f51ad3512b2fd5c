"""What each side sees of a mapping partnership: its own accounts, the overlap matrix, the
overlapping accounts and the other side's populations, each only as far as the other side's
sharing level for that population allows.

Counts-only sharing reveals counts and never an identity. A count could still tell a side
whether the other holds an account it guesses, by uploading the guess and watching the count
move; so the counts a side sees follow its own additions, changes and removals only once they
are ``settle_days`` old (each change ends a row and starts one), which makes each such
experiment take that long and tell one bit (docs/account-mapping.md, the threat model)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_deals.mapping.models import AccountOverlap, MappedAccount, MappingPartnership
from prm_deals.mapping.schemas import LEVELS, POPULATIONS, MatrixCell
from prm_deals.mapping.service import VENDOR, partnership
from prm_platform.listing import Filter, Listing, ListQuery
from prm_platform.problems import Forbidden
from prm_platform.security import Principal

a = MappedAccount.__table__
o = AccountOverlap.__table__

ACCOUNTS = Listing(
    a.c.id, Filter("population", a.c.population, str, "Only these populations."),
    within=(a.c.owner,), description="Accounts of a population, in the order uploaded.")
OVERLAPS = Listing(o.c.id, id_filter=False, within=(o.c.partner_id,),
                   description="Overlapping accounts, in the order found.")


def sides(caller: Principal, partner_id: uuid.UUID) -> tuple[str, str]:
    """The caller's owner key and the other side's."""
    partner = str(partner_id)
    return (partner, VENDOR) if caller.is_partner else (VENDOR, partner)


def shared_with(caller: Principal, row: MappingPartnership) -> dict[str, str]:
    """The other side's sharing levels, as the caller may use them: all hidden unless both
    sides opted in."""
    if row.vendor_opted_in_at is None or row.partner_opted_in_at is None:
        return dict.fromkeys(POPULATIONS, "hidden")
    levels = row.vendor_sharing if caller.is_partner else row.partner_sharing
    return {p: levels.get(p, "hidden") for p in POPULATIONS}


def _at_least(levels: dict[str, str], level: str) -> list[str]:
    return [p for p, shared in levels.items() if LEVELS.index(shared) >= LEVELS.index(level)]


_MATRIX = """
    SELECT me.population AS mine, them.population AS theirs,
           count(DISTINCT me.id) FILTER (WHERE me.removed_at IS NULL) AS now,
           count(DISTINCT me.id) FILTER (
               WHERE me.created_at <= :settled
                 AND (me.removed_at IS NULL OR me.removed_at > :settled)) AS settled
    FROM account_overlaps o
    JOIN mapped_accounts me ON me.id = o.{mine}_account_id
    JOIN mapped_accounts them ON them.id = o.{theirs}_account_id
    WHERE o.partner_id = :partner_id AND them.removed_at IS NULL
    GROUP BY 1, 2"""


async def matrix(session: AsyncSession, caller: Principal, partner_id: uuid.UUID,
                 settle_days: int) -> list[MatrixCell]:
    """Population x population: how many of the caller's accounts overlap each population of
    the other side's, where the other side shares at least counts (settled counts for counts
    only; the accounts are listed anyway at the levels above)."""
    row = await partnership(session, caller, partner_id)
    levels = shared_with(caller, row)
    mine, theirs = ("partner", "vendor") if caller.is_partner else ("vendor", "partner")
    settled = dt.datetime.now(dt.UTC) - dt.timedelta(days=settle_days)
    found = {(r.mine, r.theirs): r for r in await session.execute(
        text(_MATRIX.format(mine=mine, theirs=theirs)),
        {"partner_id": partner_id, "settled": settled})}
    cells = []
    for own in POPULATIONS:
        for other in POPULATIONS:
            level = levels[other]
            counted = found.get((own, other))
            if level == "hidden":
                value = None
            elif level == "counts":
                value = int(counted.settled) if counted else 0
            else:
                value = int(counted.now) if counted else 0
            cells.append(MatrixCell(population=own, other_population=other, level=level,
                                    overlaps=value))
    return cells


async def own_accounts(session: AsyncSession, caller: Principal, query: ListQuery
                       ) -> tuple[list[Any], str | None, int | None]:
    owner = str(caller.partner_id) if caller.is_partner else VENDOR
    statement = sa.select(a).where(a.c.owner == owner, a.c.removed_at.is_(None))
    return await ACCOUNTS.page(session, statement, query)


async def overlaps(session: AsyncSession, caller: Principal, partner_id: uuid.UUID,
                   query: ListQuery) -> tuple[list[Any], str | None, int | None]:
    """The caller's accounts that the other side holds too, in the populations it shares at
    least `overlaps`, with the other side's name for each."""
    row = await partnership(session, caller, partner_id)
    visible = _at_least(shared_with(caller, row), "overlaps")
    if not visible:
        raise Forbidden("the other side shares no population's overlapping accounts")
    me, them = a.alias("me"), a.alias("them")
    mine, theirs = ((o.c.partner_account_id, o.c.vendor_account_id) if caller.is_partner
                    else (o.c.vendor_account_id, o.c.partner_account_id))
    statement = (sa.select(o.c.id, o.c.score, o.c.basis, o.c.partner_id,
                           *[c.label(f"me_{c.name}") for c in me.c],
                           them.c.population.label("other_population"),
                           them.c.name.label("other_name"), them.c.domain.label("other_domain"),
                           them.c.country.label("other_country"))
                 .select_from(o.join(me, me.c.id == mine).join(them, them.c.id == theirs))
                 .where(o.c.partner_id == partner_id, me.c.removed_at.is_(None),
                        them.c.removed_at.is_(None), them.c.population.in_(visible)))
    return await OVERLAPS.page(session, statement, query)


async def other_accounts(session: AsyncSession, caller: Principal, partner_id: uuid.UUID,
                         query: ListQuery) -> tuple[list[Any], str | None, int | None]:
    """Every account of the other side's populations it shares `all` of, each saying whether
    the caller holds it too."""
    row = await partnership(session, caller, partner_id)
    visible = _at_least(shared_with(caller, row), "all")
    if not visible:
        raise Forbidden("the other side shares no population in full")
    _, other = sides(caller, partner_id)
    theirs, mine = ((o.c.vendor_account_id, o.c.partner_account_id) if caller.is_partner
                    else (o.c.partner_account_id, o.c.vendor_account_id))
    me = a.alias("me")
    held = sa.exists().where(theirs == a.c.id, me.c.id == mine, me.c.removed_at.is_(None))
    statement = (sa.select(a, held.label("overlaps"))
                 .where(a.c.owner == other, a.c.removed_at.is_(None),
                        a.c.population.in_(visible)))
    return await ACCOUNTS.page(session, statement, query)
