"""Partner lifecycle. Every change writes its event to the outbox in the same transaction."""

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    PartnerCreatedV1,
    PartnerSnapshot,
    PartnerStatusChangedV1,
    PartnerUpdatedV1,
)
from prm_events.outbox import publish
from prm_partners.config import EVENT_SOURCE
from prm_partners.declaration import PARTNERS_READ, PARTNERS_WRITE
from prm_partners.partners import repository
from prm_partners.partners.models import Partner
from prm_partners.partners.schemas import PartnerCreate, PartnerUpdate
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.pagination import PageRequest
from prm_platform.problems import Forbidden, InvalidTransition, NotFound
from prm_platform.security import Principal

# The lifecycle: which action leads from which statuses to which status.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "activate": (frozenset({"onboarding", "suspended"}), "active"),
    "suspend": (frozenset({"active"}), "suspended"),
    "terminate": (frozenset({"onboarding", "active", "suspended"}), "terminated"),
}

# What a partner key may change on its own organisation; the rest is the vendor's call.
PARTNER_EDITABLE = frozenset({"name"})


def _snapshot(partner: Partner) -> PartnerSnapshot:
    return PartnerSnapshot(id=partner.id, name=partner.name, type=partner.type,
                           country=partner.country, status=partner.status,
                           version=partner.version)


async def _publish(session: AsyncSession, partner: Partner, payload) -> None:
    await publish(session, payload, source=EVENT_SOURCE, aggregate_id=partner.id,
                  partner_id=partner.id)


async def create(session: AsyncSession, principal: Principal, data: PartnerCreate) -> Partner:
    principal.require(PARTNERS_WRITE)
    principal.ensure_vendor()
    now = dt.datetime.now(dt.UTC)
    partner = Partner(id=new_id(), name=data.name, type=data.type, country=data.country,
                      status="onboarding", version=1, created_at=now, updated_at=now)
    repository.add(session, partner)
    await session.flush()
    await _publish(session, partner, PartnerCreatedV1(partner=_snapshot(partner)))
    return partner


async def get(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
              *, for_update: bool = False) -> Partner:
    principal.require(PARTNERS_READ)
    principal.ensure_visible(partner_id, "partner")
    partner = await repository.get(session, partner_id, for_update=for_update)
    if partner is None:
        raise NotFound("partner not found")
    return partner


async def list_page(session: AsyncSession, principal: Principal, page: PageRequest, **filters
                    ) -> list[Partner]:
    principal.require(PARTNERS_READ)
    only_id = principal.partner_id if principal.is_partner else None
    return await repository.list_page(session, page, only_id=only_id, **filters)


async def update(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                 data: PartnerUpdate, if_match: str | None) -> Partner:
    principal.require(PARTNERS_WRITE)
    partner = await get(session, principal, partner_id, for_update=True)
    check_if_match(if_match, partner.version)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items()
               if v is not None and getattr(partner, k) != v}
    if principal.is_partner and set(changes) - PARTNER_EDITABLE:
        raise Forbidden(f"partner keys may change only {sorted(PARTNER_EDITABLE)}")
    if partner.status == "terminated" and changes:
        raise InvalidTransition("a terminated partner cannot be changed")
    if not changes:
        return partner
    for field, value in changes.items():
        setattr(partner, field, value)
    partner.version += 1
    partner.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await _publish(session, partner,
                   PartnerUpdatedV1(partner=_snapshot(partner), changed=sorted(changes)))
    return partner


async def transition(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                     action: str, if_match: str | None) -> Partner:
    principal.require(PARTNERS_WRITE)
    partner = await get(session, principal, partner_id, for_update=True)
    principal.ensure_vendor()
    check_if_match(if_match, partner.version)
    allowed_from, target = TRANSITIONS[action]
    if partner.status not in allowed_from:
        raise InvalidTransition(
            f"cannot {action} a partner that is {partner.status}",
            current_status=partner.status,
        )
    previous = partner.status
    partner.status = target
    partner.version += 1
    partner.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await _publish(session, partner,
                   PartnerStatusChangedV1(partner=_snapshot(partner), previous_status=previous))
    return partner
