"""A partner directory kept from the partners' snapshot events (topic ``prm.partners``).

The deals and incentives services each keep one in their own schema, with the same columns
(``partner_id``, the snapshot's ``name``, ``type``, ``country``, ``status``, ``tier`` and
``version``, ``events_applied``, ``last_event_at``, ``projected_at``); this is how both write it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerSnapshot
from prm_platform.projections import NewestVersion

# Columns that come from the partner's snapshot and move only with its version.
_FROM_SNAPSHOT = ("name", "type", "country", "status", "tier", "version", "last_event_at")


class PartnerDirectory:
    def __init__(self, table: str) -> None:
        self._upsert = NewestVersion(
            table, "partner_id",
            {"partner_id": None, "name": None, "type": None, "country": None, "status": None,
             "tier": None, "version": None, "events_applied": "1", "last_event_at": None,
             "projected_at": "now()"},
            newer=_FROM_SNAPSHOT,
            always={"events_applied": "t.events_applied + 1", "projected_at": "now()"})

    async def record(self, session: AsyncSession, partner: PartnerSnapshot,
                     emitted_at: dt.datetime) -> None:
        """Count the event and keep its snapshot unless a newer one is already held. One
        statement, so that two events of one partner applied at once cannot both win."""
        await self._upsert(session, partner_id=partner.id, name=partner.name,
                           type=partner.type, country=partner.country, status=partner.status,
                           tier=partner.tier, version=partner.version,
                           last_event_at=emitted_at)
