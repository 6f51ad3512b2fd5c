"""Keeps a service's key directory (``prm_platform.credentials``) from the key owner's events
(``prm.api-keys``) and the partners' standing from theirs (``prm.partners``)."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    API_KEYS_TOPIC,
    PARTNERS_TOPIC,
    ApiKeyIssuedV1,
    ApiKeyRevokedV1,
    PartnerCreatedV1,
    PartnerStatusChangedV1,
    PartnerUpdatedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_events.worker import Subscription
from prm_platform.credentials import credential_keys
from prm_platform.projections import NewestVersion, projection


async def key_issued(session: AsyncSession, event: CloudEvent) -> None:
    issued = ApiKeyIssuedV1.model_validate(event.data)
    await session.execute(insert(credential_keys).values(
        key_id=issued.key_id, secret_hash=issued.secret_hash, kind=issued.kind,
        partner_id=issued.partner_id, scopes=issued.scopes, expires_at=issued.expires_at,
    ).on_conflict_do_nothing(index_elements=[credential_keys.c.key_id]))


async def key_revoked(session: AsyncSession, event: CloudEvent) -> None:
    revoked = ApiKeyRevokedV1.model_validate(event.data)
    await session.execute(update(credential_keys)
                          .where(credential_keys.c.key_id == revoked.key_id)
                          .values(revoked_at=revoked.revoked_at))


_STANDING = NewestVersion("credential_partners", "partner_id",
                          {"partner_id": None, "status": None, "version": None},
                          newer=("status", "version"))


@projection
async def partner_standing(session: AsyncSession, event: CloudEvent) -> None:
    # Read raw: only id, status and version matter here, whatever else a newer producer sends.
    partner = event.data["partner"]
    await _STANDING(session, partner_id=uuid.UUID(str(partner["id"])),
                    status=str(partner["status"])[:40], version=int(partner["version"]))


HANDLERS: dict[str, Handler] = {
    ApiKeyIssuedV1.event_type: key_issued,
    ApiKeyRevokedV1.event_type: key_revoked,
    PartnerCreatedV1.event_type: partner_standing,
    PartnerUpdatedV1.event_type: partner_standing,
    PartnerStatusChangedV1.event_type: partner_standing,
}
TOPICS = (API_KEYS_TOPIC, PARTNERS_TOPIC)


def subscription() -> Subscription:
    """The consumer a service that checks keys itself adds to its worker."""
    return Subscription(name="credentials", topics=list(TOPICS), handlers=HANDLERS)
