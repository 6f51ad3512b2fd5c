"""Partner organisations and their lifecycle. Every change writes its event to the outbox in the
same transaction.

The other parts of the programme change a partner through ``move`` (a lifecycle step, e.g. an
onboarding plan completed activates the partner) and ``publish`` (an event about the partner);
``visible`` is the one object-level check of a partner's records, two-tier access included.
"""

import datetime as dt
import uuid
from collections.abc import Callable

import asyncpg
from fastapi import Response
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from prm_contracts import (
    EventPayload,
    PartnerCreatedV1,
    PartnerSnapshot,
    PartnerStatusChangedV1,
    PartnerUpdatedV1,
)
from prm_events import outbox
from prm_events.outbox import publish as publish_event
from prm_partners.config import EVENT_SOURCE
from prm_partners.declaration import PARTNERS_READ, PARTNERS_WRITE
from prm_partners.partners import repository
from prm_partners.partners.listing import DIRECTORY
from prm_partners.partners.models import Partner
from prm_partners.partners.schemas import PartnerCreate, PartnerUpdate
from prm_platform import idempotency
from prm_platform.db import Statement
from prm_platform.http import check_if_match
from prm_platform.idempotency import IdempotentRequest
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    Unprocessable,
    field_error,
)
from prm_platform.security import Principal

# The lifecycle: which action leads from which statuses to which status, and whether the
# actor must say why.
TRANSITIONS: dict[str, tuple[frozenset[str], str, bool]] = {
    "start-onboarding": (frozenset({"applicant"}), "onboarding", False),
    "activate": (frozenset({"onboarding", "suspended"}), "active", False),
    "suspend": (frozenset({"onboarding", "active"}), "suspended", True),
    "offboard": (frozenset({"applicant", "onboarding", "active", "suspended"}), "offboarded",
                 True),
    "reinstate": (frozenset({"offboarded"}), "onboarding", True),
}
# What a partner key may change on its own organisation; the rest is the vendor's call.
PARTNER_EDITABLE = frozenset({"name", "countries_served", "languages", "specialisations",
                              "website_domain", "employees", "default_currency"})


class ReasonRequired(Unprocessable):
    pass


def snapshot(partner: Partner) -> PartnerSnapshot:
    return PartnerSnapshot(id=partner.id, name=partner.name, type=partner.type,
                           country=partner.country, status=partner.status,
                           version=partner.version, tier=partner.tier,
                           parent_id=partner.parent_id,
                           countries_served=list(partner.countries_served or ()),
                           languages=list(partner.languages or ()),
                           specialisations=list(partner.specialisations or ()))


async def publish(session: AsyncSession, partner_id: uuid.UUID, payload: EventPayload) -> None:
    """An event about one partner, keyed by it (its events stay in order)."""
    await publish_event(session, payload, source=EVENT_SOURCE, aggregate_id=partner_id,
                        partner_id=partner_id)


def touch(partner: Partner) -> None:
    partner.version += 1
    partner.updated_at = dt.datetime.now(dt.UTC)


async def visible(session: AsyncSession, principal: Principal, partner_id: uuid.UUID) -> bool:
    """May ``principal`` read ``partner_id``'s records: a vendor always, a partner its own org,
    and a distributor the resellers that granted it access."""
    if principal.can_see_partner(partner_id):
        return True
    return await session.scalar(select(Partner.id).where(
        Partner.id == partner_id, Partner.parent_id == principal.partner_id,
        Partner.parent_access.is_(True))) is not None


async def ensure_visible(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                         what: str = "partner") -> None:
    """404 (not 403) for another org's records: a key cannot probe which ids exist."""
    if not await visible(session, principal, partner_id):
        raise NotFound(f"{what} not found")


def ensure_own(principal: Principal, partner_id: uuid.UUID, what: str = "partner") -> None:
    """Writes: a partner key acts for its own org only (a distributor's access is read-only)."""
    principal.ensure_visible(partner_id, what)


def _refuse_parent(parent_id: uuid.UUID | None, child_id: uuid.UUID | None,
                   parent_type: str | None, grandparent_id: uuid.UUID | None) -> None:
    """A parent must be a top-level distributor (``parent_type`` None: no such partner)."""
    if parent_id is None:
        return
    if parent_type is None:
        raise Unprocessable("the parent distributor does not exist",
                            errors=[field_error("body.parent_id", "unknown partner")])
    if parent_type != "distributor":
        raise Unprocessable("a parent must be a distributor", errors=[
            field_error("body.parent_id", f"that partner is a {parent_type}")])
    if grandparent_id is not None or parent_id == child_id:
        raise Unprocessable("two tiers only: a distributor has no parent of its own", errors=[
            field_error("body.parent_id", "not a top-level distributor")])


async def _check_parent(session: AsyncSession, parent_id: uuid.UUID | None,
                        child_id: uuid.UUID | None) -> None:
    parent = None if parent_id is None else await repository.get(session, parent_id)
    _refuse_parent(parent_id, child_id, parent.type if parent else None,
                   parent.parent_id if parent else None)


def _external_id_taken(external_id: str) -> Conflict:
    return Conflict(f"a partner with external_id {external_id!r} exists; update it "
                    "with PUT /v1/partners-by-external-id/{external_id}")


def new_partner(data: PartnerCreate, status: str) -> Partner:
    now = dt.datetime.now(dt.UTC)
    return Partner(id=new_id(), **data.columns(), tier=None, status=status,
                   status_reason=None, status_changed_at=now, activated_at=None, version=1,
                   created_at=now, updated_at=now)


async def create(session: AsyncSession, principal: Principal, data: PartnerCreate,
                 *, status: str = "onboarding") -> Partner:
    """Inside the caller's session (a CRM upsert, an approved application)."""
    principal.require(PARTNERS_WRITE)
    principal.ensure_vendor()
    await _check_parent(session, data.parent_id, None)
    if data.external_id and await repository.by_external_id(session, data.external_id):
        raise _external_id_taken(data.external_id)
    partner = new_partner(data, status)
    repository.add(session, partner)
    await session.flush()
    await publish(session, partner.id, PartnerCreatedV1(partner=snapshot(partner)))
    return partner


# ``register``'s statement: the parent and external-id checks are its conditions.
_ALLOWED = """(CAST(:parent_id AS uuid) IS NULL
               OR EXISTS (SELECT 1 FROM parent
                          WHERE type = 'distributor' AND parent_id IS NULL))
              AND NOT EXISTS (SELECT 1 FROM taken)"""
_COLUMNS = ("id", "name", "type", "country", "countries_served", "default_currency",
            "languages", "specialisations", "website_domain", "external_id", "parent_id",
            "parent_access", "employees", "status", "status_changed_at", "version",
            "created_at", "updated_at")
_CASTS = {"id": "uuid", "parent_id": "uuid", "countries_served": "varchar[]",
          "languages": "varchar[]", "specialisations": "varchar[]", "parent_access": "boolean",
          "employees": "integer", "version": "integer", "status_changed_at": "timestamptz",
          "created_at": "timestamptz", "updated_at": "timestamptz"}
_REGISTER = Statement(f"""
    WITH parent AS (
        SELECT type, parent_id FROM partners WHERE id = CAST(:parent_id AS uuid)
    ),
    taken AS (
        SELECT 1 FROM partners WHERE external_id = CAST(:external_id AS varchar)
    ),
    {idempotency.store_cte(_ALLOWED)},
    partner AS (
        INSERT INTO partners ({", ".join(_COLUMNS)})
        SELECT {", ".join(f"CAST(:{c} AS {_CASTS.get(c, 'varchar')})" for c in _COLUMNS)}
        WHERE {_ALLOWED} AND {idempotency.STORED}
        RETURNING id
    ),
    {outbox.insert_cte(after="partner")}
    SELECT (SELECT type FROM parent) AS parent_type,
           (SELECT parent_id FROM parent) AS grandparent_id,
           EXISTS (SELECT 1 FROM taken) AS taken,
           EXISTS (SELECT 1 FROM partner) AS created
""")


async def register(connection: AsyncConnection, principal: Principal, data: PartnerCreate,
                   request: IdempotentRequest | None,
                   answer: Callable[[Partner], Response]) -> Response:
    """``POST /v1/partners`` in one statement (autocommit): the partner, its event and the
    Idempotency-Key's stored answer, which ``answer`` renders before the statement runs so
    that a retry under the key gets the very bytes the first got. Two creates of one
    external id at once: the unique index refuses the second (409)."""
    principal.require(PARTNERS_WRITE)
    principal.ensure_vendor()
    partner = new_partner(data, "onboarding")
    response = answer(partner)
    params = {c: getattr(partner, c) for c in _COLUMNS}
    try:
        row = await _REGISTER.fetchrow(connection, {
            **params, **idempotency.store_params(request, response),
            **outbox.event_params(PartnerCreatedV1(partner=snapshot(partner)),
                                  source=EVENT_SOURCE, aggregate_id=partner.id,
                                  partner_id=partner.id),
        })
    except asyncpg.UniqueViolationError as error:
        if data.external_id and error.constraint_name == "uq_partners_external_id":
            raise _external_id_taken(data.external_id) from None
        raise
    if row["created"]:
        await outbox.wake_relay(connection)
        return response
    if request is not None and await idempotency.held(connection, request):
        return await idempotency.stored_response(connection, request)
    _refuse_parent(data.parent_id, None, row["parent_type"], row["grandparent_id"])
    if row["taken"]:
        assert data.external_id is not None  # only a sent external id is taken
        raise _external_id_taken(data.external_id)
    assert request is not None  # allowed yet not created: the key was already taken
    return await idempotency.stored_response(connection, request)


async def upsert(session: AsyncSession, principal: Principal, external_id: str,
                 data: PartnerCreate) -> tuple[Partner, bool]:
    """Create or change the org the vendor's CRM knows as ``external_id``; True if created.
    Two integrations upserting one id at once: the unique index lets one create, the other
    gets a 409 and retries into the update."""
    principal.require(PARTNERS_WRITE)
    principal.ensure_vendor()
    data = data.model_copy(update={"external_id": external_id})
    existing = await repository.by_external_id(session, external_id, for_update=True)
    if existing is None:
        return await create(session, principal, data), True
    changes = PartnerUpdate.model_validate(
        {k: v for k, v in data.columns().items() if k != "external_id"})
    return await _change(session, principal, existing, changes), False


async def get(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
              *, for_update: bool = False) -> Partner:
    principal.require(PARTNERS_READ)
    await ensure_visible(session, principal, partner_id)
    partner = await repository.get(session, partner_id, for_update=for_update)
    if partner is None:
        raise NotFound("partner not found")
    return partner


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Partner], str | None, int | None]:
    principal.require(PARTNERS_READ)
    visible = select(Partner)
    if principal.is_partner:  # its own org, and the resellers that granted it access
        visible = visible.where(or_(Partner.id == principal.partner_id,
                                    (Partner.parent_id == principal.partner_id)
                                    & Partner.parent_access.is_(True)))
    return await DIRECTORY.page(session, visible, query)


async def update(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                 data: PartnerUpdate, if_match: str | None) -> Partner:
    principal.require(PARTNERS_WRITE)
    ensure_own(principal, partner_id)
    partner = await get(session, principal, partner_id, for_update=True)
    check_if_match(if_match, partner.version)
    return await _change(session, principal, partner, data)


async def _change(session: AsyncSession, principal: Principal, partner: Partner,
                  data: PartnerUpdate) -> Partner:
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items()
               if getattr(partner, k) != v}
    if principal.is_partner and set(changes) - PARTNER_EDITABLE:
        raise Forbidden(f"partner keys may change only {sorted(PARTNER_EDITABLE)}")
    if partner.status == "offboarded" and changes:
        raise InvalidTransition("an offboarded partner cannot be changed; reinstate it first",
                                current_status=partner.status)
    if "parent_id" in changes:
        await _check_parent(session, changes["parent_id"], partner.id)
    if changes.get("type", "distributor") != "distributor" and await session.scalar(
            select(Partner.id).where(Partner.parent_id == partner.id).limit(1)):
        raise Conflict("this distributor has resellers: move them first")
    if "external_id" in changes and changes["external_id"] and \
            await repository.by_external_id(session, changes["external_id"]):
        raise Conflict(f"another partner has external_id {changes['external_id']!r}")
    if not changes:
        return partner
    for field, value in changes.items():
        setattr(partner, field, value)
    touch(partner)
    await session.flush()
    await publish(session, partner.id,
                  PartnerUpdatedV1(partner=snapshot(partner), changed=sorted(changes)))
    return partner


async def transition(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                     action: str, if_match: str | None, reason: str | None) -> Partner:
    principal.require(PARTNERS_WRITE)
    ensure_own(principal, partner_id)
    principal.ensure_vendor()
    partner = await get(session, principal, partner_id, for_update=True)
    check_if_match(if_match, partner.version)
    return await move(session, partner, action, reason)


async def move(session: AsyncSession, partner: Partner, action: str, reason: str | None
               ) -> Partner:
    """One lifecycle step (the caller holds the partner's row lock and checked who may)."""
    allowed_from, target, needs_reason = TRANSITIONS[action]
    if partner.status not in allowed_from:
        raise InvalidTransition(
            f"cannot {action.replace('-', ' ')} a partner that is {partner.status}",
            current_status=partner.status,
            allowed_from=sorted(allowed_from))
    if needs_reason and not reason:
        raise ReasonRequired(f"say why: {action} takes a reason",
                             errors=[field_error("body.reason", "required for this action")])
    previous = partner.status
    now = dt.datetime.now(dt.UTC)
    partner.status, partner.status_reason, partner.status_changed_at = target, reason, now
    if target == "active" and partner.activated_at is None:
        partner.activated_at = now
    touch(partner)
    await session.flush()
    await publish(session, partner.id, PartnerStatusChangedV1(
        partner=snapshot(partner), previous_status=previous, reason=reason))
    return partner
