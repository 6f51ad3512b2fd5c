"""Partners' display names beside their ids, from the partner directory this service keeps
(``partner_directory``, built from the partners' events): joined into a list's select (one join
for the whole page) or read once for a single record. A partner the directory has not heard of
yet has no name (null)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_incentives.directory.models import PartnerDirectoryEntry
from prm_platform.listing import ListQuery
from prm_platform.security import Principal


def named(statement: Select[Any], partner_id: Any) -> Select[Any]:
    """``statement`` with a ``partner_name`` column: the directory's name of ``partner_id``."""
    return statement.add_columns(PartnerDirectoryEntry.name.label("partner_name")).outerjoin(
        PartnerDirectoryEntry, PartnerDirectoryEntry.partner_id == partner_id)


async def partner_name(session: AsyncSession, partner_id: uuid.UUID | None) -> str | None:
    if partner_id is None:
        return None
    return (await session.execute(select(PartnerDirectoryEntry.name).where(
        PartnerDirectoryEntry.partner_id == partner_id))).scalar_one_or_none()


def visible(principal: Principal, statement: Select[Any], query: ListQuery, partner_id: Any
            ) -> tuple[Select[Any], ListQuery]:
    """A list as the caller may see it: a partner key sees its own org's records, vendor keys
    every one. Filters narrow what the caller sees, as on every list: a partner key naming
    another org's ``partner_id`` gets an empty page."""
    if not principal.is_partner:
        return statement, query
    return statement.where(partner_id == principal.partner_id), query
