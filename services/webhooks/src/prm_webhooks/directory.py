"""The partner names this service shows beside partner ids (``partner_name`` on endpoints and
messages), kept from the partners' snapshot events (topic ``prm.partners``): every partner
event carries the whole snapshot with its version, so the newest version wins whatever the
order of arrival. A partner no event has named yet shows no name."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    PartnerCreatedV1,
    PartnerStatusChangedV1,
    PartnerTierChangedV1,
    PartnerUpdatedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import NewestVersion, projection
from prm_webhooks.db import Base

partner_directory = sa.Table(
    "partner_directory", Base.metadata,
    sa.Column("partner_id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # The partner's own version of the snapshot held; older snapshots are never taken.
    sa.Column("version", sa.Integer(), nullable=False),
)

_RECORD = NewestVersion("partner_directory", "partner_id",
                        {"partner_id": None, "name": None, "version": None},
                        newer=("name", "version"))


@projection
async def record_partner_name(session: AsyncSession, event: CloudEvent) -> None:
    # Read raw, like the standing: only id, name and version matter here.
    partner = event.data["partner"]
    await _RECORD(session, partner_id=uuid.UUID(str(partner["id"])),
                  name=str(partner["name"])[:200], version=int(partner["version"]))


HANDLERS: dict[str, Handler] = {
    model.event_type: record_partner_name
    for model in (PartnerCreatedV1, PartnerUpdatedV1, PartnerStatusChangedV1,
                  PartnerTierChangedV1)
}


def named(columns: list[Any], partner_id: Any) -> sa.Select[Any]:
    """``SELECT columns, partner_name`` with the name of ``partner_id``'s partner (null if no
    event has named it yet): one outer join on the directory's key, whatever the page size."""
    return (sa.select(*columns, partner_directory.c.name.label("partner_name"))
            .select_from(partner_id.table.outerjoin(
                partner_directory, partner_directory.c.partner_id == partner_id)))


# For SQL written as text: the name of the row's partner, as a column of a SELECT or RETURNING.
def name_of(partner_id_sql: str) -> str:
    return (f"(SELECT p.name FROM partner_directory p WHERE p.partner_id = {partner_id_sql}) "
            "AS partner_name")
