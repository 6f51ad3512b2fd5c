"""The vendor's lead routing rules: kept in order, every change a new version with the old one
kept, read by each routing in its own transaction (a change applies to the very next lead, and
a new version starts new pools)."""

import datetime as dt
import uuid
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_deals.declaration import LEADS_READ, LEADS_WRITE
from prm_deals.leads.listing import RULES, VERSIONS
from prm_deals.leads.models import LeadRoutingRule, LeadRoutingRuleVersion
from prm_deals.leads.schemas import MAX_RULES, LeadRoutingRuleIn, LeadRoutingRulePatch
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, NotFound
from prm_platform.security import Principal

_JSON = ("conditions", "partners", "weighting", "capacity")
_COLUMNS = ("id, position, name, conditions, partners, weighting, capacity, "
            "respond_within_hours, enabled, version, created_at, updated_at")


def _vendor(principal: Principal, scope: str) -> None:
    principal.require(scope)
    principal.ensure_vendor()


def _snapshot(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("position", "name", *_JSON, "respond_within_hours",
                                         "enabled")}


async def _keep_version(session: AsyncSession, row: Any, principal: Principal) -> None:
    await session.execute(text(
        "INSERT INTO lead_routing_rule_versions (rule_id, version, rule, changed_by, "
        "changed_at) VALUES (:id, :version, CAST(:rule AS jsonb), :by, :at)"),
        {"id": row.id, "version": row.version, "rule": orjson.dumps(_snapshot(row)).decode(),
         "by": principal.actor, "at": row.updated_at})


def _dumped(data: LeadRoutingRuleIn | LeadRoutingRulePatch, name: str) -> str:
    return orjson.dumps(getattr(data, name).model_dump(mode="json", exclude_none=True)).decode()


async def create(session: AsyncSession, principal: Principal, data: LeadRoutingRuleIn) -> Any:
    _vendor(principal, LEADS_WRITE)
    count, last = (await session.execute(text(
        "SELECT count(*), coalesce(max(position), 0) FROM lead_routing_rules"))).one()
    if count >= MAX_RULES:
        raise Conflict(f"at most {MAX_RULES} routing rules; delete or merge some first")
    now = dt.datetime.now(dt.UTC)
    row = (await session.execute(text(
        f"INSERT INTO lead_routing_rules ({_COLUMNS}) VALUES (:id, :position, :name, "
        "CAST(:conditions AS jsonb), CAST(:partners AS jsonb), CAST(:weighting AS jsonb), "
        "CAST(:capacity AS jsonb), :respond_within_hours, :enabled, 1, :now, :now) "
        f"RETURNING {_COLUMNS}"), {
            "id": new_id(), "position": data.position if data.position is not None
            else last + 10, "name": data.name, **{k: _dumped(data, k) for k in _JSON},
            "respond_within_hours": data.respond_within_hours, "enabled": data.enabled,
            "now": now})).one()
    await _keep_version(session, row, principal)
    return row


async def get(session: AsyncSession, principal: Principal, rule_id: uuid.UUID, *,
              for_update: bool = False) -> Any:
    _vendor(principal, LEADS_READ)
    row = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM lead_routing_rules WHERE id = :id"
        + (" FOR UPDATE" if for_update else "")), {"id": rule_id})).first()
    if row is None:
        raise NotFound("routing rule not found")
    return row


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    _vendor(principal, LEADS_READ)
    return await RULES.page(session, select(LeadRoutingRule), query)


async def update(session: AsyncSession, principal: Principal, rule_id: uuid.UUID,
                 data: LeadRoutingRulePatch, if_match: str | None) -> Any:
    _vendor(principal, LEADS_WRITE)
    current = await get(session, principal, rule_id, for_update=True)
    check_if_match(if_match, current.version)
    changes: dict[str, Any] = {k: v for k, v in data.model_dump(exclude_unset=True).items()
                               if v is not None}
    if not changes:
        return current
    for name in _JSON:
        if name in changes:
            changes[name] = _dumped(data, name)
    assignments = ", ".join(f"{k} = CAST(:{k} AS jsonb)" if k in _JSON else f"{k} = :{k}"
                            for k in changes)
    row = (await session.execute(text(
        f"UPDATE lead_routing_rules SET {assignments}, version = version + 1, "
        f"updated_at = :now WHERE id = :id RETURNING {_COLUMNS}"),
        {**changes, "id": rule_id, "now": dt.datetime.now(dt.UTC)})).one()
    await _keep_version(session, row, principal)
    return row


async def delete(session: AsyncSession, principal: Principal, rule_id: uuid.UUID,
                 if_match: str | None) -> None:
    _vendor(principal, LEADS_WRITE)
    current = await get(session, principal, rule_id, for_update=True)
    check_if_match(if_match, current.version)
    await session.execute(text("DELETE FROM lead_routing_rules WHERE id = :id"), {"id": rule_id})


async def versions(session: AsyncSession, principal: Principal, rule_id: uuid.UUID,
                   query: ListQuery) -> tuple[list[Any], str | None, int | None]:
    """The rule's versions, oldest first (kept after the rule is deleted)."""
    _vendor(principal, LEADS_READ)
    known = (await session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM lead_routing_rule_versions WHERE rule_id = :id)"),
        {"id": rule_id})).scalar_one()
    if not known:
        raise NotFound("routing rule not found")
    return await VERSIONS.page(session, select(LeadRoutingRuleVersion).where(
        LeadRoutingRuleVersion.rule_id == rule_id), query)
