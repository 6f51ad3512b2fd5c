"""The partner directory: partners as the partners service's events describe them, and the
facts lead routing matches them by.

Each write is one statement (the deals worker applies every partner event): the snapshot's
upsert, or a certification's row together with the partner's recomputed codes.
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_contracts import CertificationEarnedV1, CertificationExpiredV1, PartnerSnapshot
from prm_deals.directory.models import PartnerDirectoryEntry
from prm_platform.projections import NewestVersion


async def get(session: AsyncSession, partner_id: uuid.UUID) -> PartnerDirectoryEntry | None:
    return await session.get(PartnerDirectoryEntry, partner_id)


# The codes of a partner's active certifications (``{also}``: more conditions). A statement
# does not see the rows its own CTEs write: each caller adds or takes away its own.
_ACTIVE_CODES = ("SELECT c.code FROM partner_directory_certifications c "
                 "WHERE c.partner_id = {partner} AND c.expired_on IS NULL{also}")

# Columns that come from the partner's snapshot and move only with its version.
_FROM_SNAPSHOT = ("name", "type", "country", "status", "tier", "countries_served", "languages",
                  "specialisations", "version", "last_event_at")
_RECORD = NewestVersion(
    PartnerDirectoryEntry.__tablename__, "partner_id",
    {"partner_id": None, **dict.fromkeys(_FROM_SNAPSHOT),
     # A new row takes the certifications that arrived before the partner did.
     "certifications": "ARRAY(" + _ACTIVE_CODES.format(partner=":partner_id", also="")
                       + " GROUP BY 1 ORDER BY 1)",
     "events_applied": "1", "projected_at": "now()"},
    newer=_FROM_SNAPSHOT,
    always={"events_applied": "t.events_applied + 1", "projected_at": "now()"})


async def record(session: AsyncSession, partner: PartnerSnapshot,
                 emitted_at: dt.datetime) -> None:
    """Count the event and keep its snapshot unless a newer one is already held. One
    statement, so that two events of one partner applied at once cannot both win."""
    await _RECORD(session, partner_id=partner.id, name=partner.name, type=partner.type,
                  country=partner.country, status=partner.status, tier=partner.tier,
                  countries_served=partner.countries_served, languages=partner.languages,
                  specialisations=partner.specialisations, version=partner.version,
                  last_event_at=emitted_at)


# Both keep the certification's row whether or not the partner is in the directory yet, and
# recompute the partner's codes only when the row changed: a replay changes nothing. An expired
# row is kept, so an earn arriving after its expiry inserts nothing and stays without effect.
_EARNED = text(
    "WITH earned AS (INSERT INTO partner_directory_certifications "
    "(partner_id, certification_id, code, expires_on) "
    "VALUES (:partner_id, :certification_id, :code, :expires_on) "
    "ON CONFLICT (partner_id, certification_id) DO NOTHING RETURNING code) "
    "UPDATE partner_directory AS d SET projected_at = now(), certifications = ARRAY("
    + _ACTIVE_CODES.format(partner="d.partner_id", also="")
    + " UNION SELECT earned.code ORDER BY 1) FROM earned WHERE d.partner_id = :partner_id")
_EXPIRED = text(
    "WITH expired AS (INSERT INTO partner_directory_certifications AS c "
    "(partner_id, certification_id, code, expired_on) "
    "VALUES (:partner_id, :certification_id, :code, :expired_on) "
    "ON CONFLICT (partner_id, certification_id) DO UPDATE SET expired_on = excluded.expired_on "
    "WHERE c.expired_on IS NULL RETURNING certification_id) "
    "UPDATE partner_directory AS d SET projected_at = now(), certifications = ARRAY("
    + _ACTIVE_CODES.format(partner="d.partner_id",
                           also=" AND c.certification_id <> expired.certification_id")
    + " GROUP BY 1 ORDER BY 1) FROM expired WHERE d.partner_id = :partner_id")


async def record_certification(session: AsyncSession,
                               change: CertificationEarnedV1 | CertificationExpiredV1) -> None:
    """An earned certification is kept and adds its code, unless it is known already (a
    replay, or its expiry came first); an expired one is marked (remembered even when its earn
    has not arrived yet) and takes its code away unless another active one has it too."""
    which = {"partner_id": change.partner_id, "certification_id": change.certification_id,
             "code": change.code}
    if isinstance(change, CertificationEarnedV1):
        await session.execute(_EARNED, {**which, "expires_on": change.expires_on})
    else:
        await session.execute(_EXPIRED, {**which, "expired_on": change.expired_on})


_ROUTING_FACTS = text(
    "SELECT partner_id, name, type, country, status, tier, countries_served, languages, "
    "specialisations, certifications FROM partner_directory WHERE partner_id = ANY(:ids)")


async def routing_facts(connection: AsyncConnection | AsyncSession,
                        partner_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """What lead routing matches partners by, for those of ``partner_ids`` the directory knows
    (one query): name, type, country, status, tier, countries_served, languages,
    specialisations and certifications (the codes active now, sorted)."""
    if not partner_ids:
        return {}
    rows = await connection.execute(_ROUTING_FACTS, {"ids": list(partner_ids)})
    return {row.partner_id: {k: v for k, v in row._mapping.items() if k != "partner_id"}
            for row in rows}
