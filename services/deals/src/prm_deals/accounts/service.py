"""The vendor's direct accounts and the names they answer to. Every write keeps
``direct_account_names`` (the account's name key and its aliases' keys, which the conflict check
searches) in the same transaction. Vendor keys only: partners never see these accounts."""

import datetime as dt
import types
import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import DirectAccountChangedV1
from prm_deals.accounts.listing import ACCOUNTS
from prm_deals.accounts.models import DirectAccount
from prm_deals.accounts.schemas import DirectAccountImport, DirectAccountIn, DirectAccountPatch
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DIRECT_ACCOUNTS_READ, DIRECT_ACCOUNTS_WRITE
from prm_deals.matching.normalise import blocks, core_key, domain_key, name_key
from prm_events import outbox
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, NotFound
from prm_platform.security import Principal

_COLUMNS = "id, external_id, name, domain, country, owner, aliases, version, created_at, " \
           "updated_at"
_ROWS = """jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    id uuid, external_id varchar, name varchar, domain varchar, country varchar, owner varchar,
    domain_key varchar, aliases jsonb)"""
_VALUES = """r.id, r.external_id, r.name, r.domain, r.country, r.owner,
    ARRAY(SELECT jsonb_array_elements_text(r.aliases)), r.domain_key, 1,
    CAST(:now AS timestamptz), CAST(:now AS timestamptz)"""
_INSERT = f"""INSERT INTO direct_accounts AS d (id, external_id, name, domain, country, owner,
    aliases, domain_key, version, created_at, updated_at) SELECT {_VALUES} FROM {_ROWS}"""
_CREATE = text(f"{_INSERT} ON CONFLICT (external_id) DO NOTHING RETURNING {_COLUMNS}")
_UPSERT = text(f"""{_INSERT} ON CONFLICT (external_id) DO UPDATE SET
    name = excluded.name, domain = excluded.domain, country = excluded.country,
    owner = excluded.owner, aliases = excluded.aliases, domain_key = excluded.domain_key,
    version = d.version + 1, updated_at = excluded.updated_at
    WHERE (d.name, d.domain, d.country, d.owner, d.aliases)
          IS DISTINCT FROM (excluded.name, excluded.domain, excluded.country, excluded.owner,
                            excluded.aliases)
    RETURNING d.id, d.name, d.domain, d.country, d.aliases, d.version,
              d.version = 1 AS created""")
_INDEX_NAMES = text("""
    WITH keys AS (
        SELECT n.account_id, n.name_key, n.core, n.alias,
               ARRAY(SELECT jsonb_array_elements_text(n.blocks)) AS blocks
        FROM jsonb_to_recordset(CAST(:names AS jsonb)) AS n(account_id uuid, name_key varchar,
                                                            core varchar, alias boolean,
                                                            blocks jsonb)
    ),
    stale AS (
        DELETE FROM direct_account_names d
        WHERE d.account_id = ANY(CAST(:accounts AS uuid[]))
          AND NOT EXISTS (SELECT 1 FROM keys k WHERE k.account_id = d.account_id
                          AND k.name_key = d.name_key)
    )
    INSERT INTO direct_account_names (account_id, name_key, core, alias, blocks)
    SELECT account_id, name_key, core, alias, blocks FROM keys
    ON CONFLICT (account_id, name_key) DO UPDATE SET alias = excluded.alias
""")


def _row(account: DirectAccountIn) -> dict[str, Any]:
    return {"id": str(new_id()), "external_id": account.external_id, "name": account.name,
            "domain": account.domain, "country": account.country, "owner": account.owner,
            "domain_key": domain_key(account.domain), "aliases": account.aliases}


def _names(account_id: uuid.UUID, name: str, aliases: Iterable[str]) -> list[dict[str, Any]]:
    """The keys an account answers to: its name's, then its aliases' (one row per key)."""
    keys: dict[str, bool] = {}
    for key, alias in [(name_key(name), False), *((name_key(a), True) for a in aliases)]:
        if key:
            keys.setdefault(key, alias)
    return [{"account_id": str(account_id), "name_key": k, "core": core_key(k), "alias": a,
             "blocks": blocks(k, "*")} for k, a in keys.items()]


async def _index(session: AsyncSession, accounts: list[tuple[uuid.UUID, str, list[str]]]
                 ) -> None:
    if not accounts:
        return
    names = [n for account_id, name, aliases in accounts
             for n in _names(account_id, name, aliases)]
    await session.execute(_INDEX_NAMES, {"accounts": [a[0] for a in accounts],
                                         "names": orjson.dumps(names).decode()})


async def _announce(session: AsyncSession, rows: Iterable[Any], *, removed: bool = False
                    ) -> None:
    """Each account as it is now, for the read models (the portal's search)."""
    await outbox.publish_many(session, [
        (DirectAccountChangedV1(account_id=r.id, name=r.name, domain=r.domain,
                                country=r.country, removed=removed, version=r.version), r.id)
        for r in rows], source=EVENT_SOURCE)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def create(session: AsyncSession, principal: Principal, data: DirectAccountIn) -> Any:
    principal.ensure_vendor()
    principal.require(DIRECT_ACCOUNTS_WRITE)
    row = (await session.execute(_CREATE, {"rows": orjson.dumps([_row(data)]).decode(),
                                           "now": _now()})).first()
    if row is None:
        raise Conflict(f"a direct account with external_id {data.external_id!r} exists; "
                       "PATCH it, or import to upsert")
    await _index(session, [(row.id, row.name, list(row.aliases))])
    await _announce(session, [row])
    return row


async def import_accounts(session: AsyncSession, principal: Principal,
                          data: DirectAccountImport) -> tuple[int, int]:
    """Upsert by external id in one statement; returns (created, updated). An account sent
    unchanged is neither."""
    principal.ensure_vendor()
    principal.require(DIRECT_ACCOUNTS_WRITE)
    rows = (await session.execute(_UPSERT, {
        "rows": orjson.dumps([_row(a) for a in data.accounts]).decode(), "now": _now()})).all()
    await _index(session, [(r.id, r.name, list(r.aliases)) for r in rows])
    await _announce(session, rows)
    created = sum(1 for r in rows if r.created)
    return created, len(rows) - created


async def get(session: AsyncSession, principal: Principal, account_id: uuid.UUID,
              *, for_update: bool = False) -> Any:
    principal.ensure_vendor()
    principal.require(DIRECT_ACCOUNTS_READ)
    lock = " FOR UPDATE" if for_update else ""
    row = (await session.execute(text(f"SELECT {_COLUMNS} FROM direct_accounts WHERE id = :id"
                                      f"{lock}"), {"id": account_id})).first()
    if row is None:
        raise NotFound("direct account not found")
    return row


async def update(session: AsyncSession, principal: Principal, account_id: uuid.UUID,
                 data: DirectAccountPatch, if_match: str | None) -> Any:
    principal.require(DIRECT_ACCOUNTS_WRITE)
    current = await get(session, principal, account_id, for_update=True)
    check_if_match(if_match, current.version)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        changes.pop("name")  # the name is required: null leaves it as it is
    if "aliases" in changes and changes["aliases"] is None:
        changes["aliases"] = []  # null clears them
    if not changes:
        return current
    if "domain" in changes:
        changes["domain_key"] = domain_key(changes["domain"])
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    row = (await session.execute(text(
        f"UPDATE direct_accounts SET {assignments}, version = version + 1, updated_at = :now "
        f"WHERE id = :id RETURNING {_COLUMNS}"),
        {**changes, "id": account_id, "now": _now()})).one()
    await _index(session, [(row.id, row.name, list(row.aliases))])
    await _announce(session, [row])
    return row


async def delete(session: AsyncSession, principal: Principal, account_id: uuid.UUID,
                 if_match: str | None) -> None:
    principal.require(DIRECT_ACCOUNTS_WRITE)
    current = await get(session, principal, account_id, for_update=True)
    check_if_match(if_match, current.version)
    await session.execute(text("DELETE FROM direct_accounts WHERE id = :id"), {"id": account_id})
    gone = current._asdict() | {"version": current.version + 1}
    await _announce(session, [types.SimpleNamespace(**gone)], removed=True)


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    principal.ensure_vendor()
    principal.require(DIRECT_ACCOUNTS_READ)
    return await ACCOUNTS.page(session, select(DirectAccount), query)
