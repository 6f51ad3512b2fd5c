"""Partners' names for the answers that show a ``partner_id``: one query per page."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm_partners.partners.models import Partner


async def partner_names(session: AsyncSession, ids: Iterable[uuid.UUID | None]
                        ) -> dict[uuid.UUID, str]:
    """The directory's name of each partner among ``ids`` (None ids skipped)."""
    wanted = {partner_id for partner_id in ids if partner_id is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(wanted)))
    return {partner_id: name for partner_id, name in rows.all()}
