"""Partners' display names beside their ids in responses, from the partner directory this
service keeps: one batched read per page, never one per item."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.directory.models import PartnerDirectoryEntry


async def partner_names(session: AsyncSession, ids: Iterable[uuid.UUID | None]
                        ) -> dict[uuid.UUID, str]:
    """The names of these partners the directory knows (a partner it has not heard of yet is
    absent: its name reads null)."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await session.execute(select(PartnerDirectoryEntry.partner_id,
                                        PartnerDirectoryEntry.name)
                                 .where(PartnerDirectoryEntry.partner_id.in_(wanted)))
    return {row.partner_id: row.name for row in rows}
