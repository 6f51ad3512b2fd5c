"""The vendor's rules of engagement: kept in order, every change a new version with the old one
kept, and read by each registration in its own transaction (so a change applies to the very
next registration)."""

import datetime as dt
import uuid
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_deals.declaration import DEALS_READ, DEALS_WRITE
from prm_deals.rules.listing import RULES, VERSIONS
from prm_deals.rules.models import EngagementRule, EngagementRuleVersion
from prm_deals.rules.schemas import MAX_RULES, RuleIn, RulePatch
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, NotFound, Unprocessable
from prm_platform.security import Principal

_COLUMNS = ("id, position, name, conditions, outcome, applies_to, reason, protection_days, "
            "enabled, version, created_at, updated_at")
_FOR_DECISIONS = text(f"""
    SELECT CAST((SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.position, r.id), '[]')
                 FROM (SELECT id, name, version, conditions, outcome, reason, protection_days,
                              position
                       FROM engagement_rules WHERE enabled AND applies_to = :applies_to
                       ORDER BY position, id
                       LIMIT {MAX_RULES}) r) AS jsonb) AS rules,
           CAST((SELECT coalesce(jsonb_object_agg(partner_id, jsonb_build_object(
                     'tier', tier, 'type', type, 'status', status, 'name', name)), '{{}}')
                 FROM partner_directory WHERE partner_id = ANY(CAST(:partners AS uuid[])))
                AS jsonb) AS partners
""")


async def for_decisions(connection: AsyncConnection | AsyncSession,
                        partner_ids: list[uuid.UUID], applies_to: str = "registration"
                        ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The enabled rules for ``applies_to`` in order, and what the directory knows of the
    partners (by id as text): one round trip."""
    row = (await connection.execute(_FOR_DECISIONS, {
        "partners": partner_ids, "applies_to": applies_to})).one()
    return list(row.rules), dict(row.partners)


def _snapshot(row: Any) -> dict[str, Any]:
    return {"position": row.position, "name": row.name, "conditions": row.conditions,
            "outcome": row.outcome, "applies_to": row.applies_to, "reason": row.reason,
            "protection_days": row.protection_days, "enabled": row.enabled}


async def _keep_version(session: AsyncSession, row: Any, principal: Principal) -> None:
    await session.execute(text(
        "INSERT INTO engagement_rule_versions (rule_id, version, rule, changed_by, changed_at) "
        "VALUES (:id, :version, CAST(:rule AS jsonb), :by, :at)"),
        {"id": row.id, "version": row.version, "rule": orjson.dumps(_snapshot(row)).decode(),
         "by": principal.subject, "at": row.updated_at})


def _vendor(principal: Principal, scope: str) -> None:
    principal.require(scope)
    principal.ensure_vendor()


async def create(session: AsyncSession, principal: Principal, data: RuleIn) -> Any:
    _vendor(principal, DEALS_WRITE)
    count, last = (await session.execute(text(
        "SELECT count(*), coalesce(max(position), 0) FROM engagement_rules"))).one()
    if count >= MAX_RULES:
        raise Conflict(f"at most {MAX_RULES} rules; delete or merge some first")
    now = dt.datetime.now(dt.UTC)
    row = (await session.execute(text(
        f"INSERT INTO engagement_rules ({_COLUMNS}) VALUES (:id, :position, :name, "
        "CAST(:conditions AS jsonb), :outcome, :applies_to, :reason, :protection_days, "
        f":enabled, 1, :now, :now) RETURNING {_COLUMNS}"), {
            "id": new_id(), "position": data.position if data.position is not None
            else last + 10, "name": data.name,
            "conditions": data.conditions.model_dump_json(exclude_none=True),
            "outcome": data.outcome, "applies_to": data.applies_to, "reason": data.reason,
            "protection_days": data.protection_days, "enabled": data.enabled,
            "now": now})).one()
    await _keep_version(session, row, principal)
    return row


async def get(session: AsyncSession, principal: Principal, rule_id: uuid.UUID, *,
              for_update: bool = False) -> Any:
    _vendor(principal, DEALS_READ)
    row = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM engagement_rules WHERE id = :id"
        + (" FOR UPDATE" if for_update else "")), {"id": rule_id})).first()
    if row is None:
        raise NotFound("engagement rule not found")
    return row


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    _vendor(principal, DEALS_READ)
    return await RULES.page(session, select(EngagementRule), query)


async def update(session: AsyncSession, principal: Principal, rule_id: uuid.UUID,
                 data: RulePatch, if_match: str | None) -> Any:
    _vendor(principal, DEALS_WRITE)
    current = await get(session, principal, rule_id, for_update=True)
    check_if_match(if_match, current.version)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items()
               if v is not None or k in ("reason", "protection_days")}
    outcome = changes.get("outcome", current.outcome)
    reason = changes.get("reason", current.reason)
    if outcome == "reject" and not reason:
        raise Unprocessable("a rule that rejects needs a reason the partner can read")
    if not changes:
        return current
    if "conditions" in changes:
        changes["conditions"] = orjson.dumps(
            data.conditions.model_dump(mode="json", exclude_none=True)  # type: ignore[union-attr]
        ).decode()
    assignments = ", ".join(
        f"{k} = CAST(:{k} AS jsonb)" if k == "conditions" else f"{k} = :{k}" for k in changes)
    row = (await session.execute(text(
        f"UPDATE engagement_rules SET {assignments}, version = version + 1, updated_at = :now "
        f"WHERE id = :id RETURNING {_COLUMNS}"),
        {**changes, "id": rule_id, "now": dt.datetime.now(dt.UTC)})).one()
    await _keep_version(session, row, principal)
    return row


async def delete(session: AsyncSession, principal: Principal, rule_id: uuid.UUID,
                 if_match: str | None) -> None:
    _vendor(principal, DEALS_WRITE)
    current = await get(session, principal, rule_id, for_update=True)
    check_if_match(if_match, current.version)
    await session.execute(text("DELETE FROM engagement_rules WHERE id = :id"), {"id": rule_id})


async def versions(session: AsyncSession, principal: Principal, rule_id: uuid.UUID,
                   query: ListQuery) -> tuple[list[Any], str | None, int | None]:
    """The rule's versions, oldest first (kept after the rule is deleted)."""
    _vendor(principal, DEALS_READ)
    known = (await session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM engagement_rule_versions WHERE rule_id = :id)"),
        {"id": rule_id})).scalar_one()
    if not known:
        raise NotFound("engagement rule not found")
    return await VERSIONS.page(session, select(EngagementRuleVersion).where(
        EngagementRuleVersion.rule_id == rule_id), query)
