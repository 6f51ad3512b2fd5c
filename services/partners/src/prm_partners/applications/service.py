"""Applications to the programme: a prospect applies through the public intake key, is scored
against the Ideal Partner Profile at once, and a channel manager approves (the partner is
created in ``onboarding``) or declines it with a reason."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerApplicationDecidedV1, PartnerApplicationSubmittedV1
from prm_events.outbox import publish as publish_event
from prm_partners.applications import fit
from prm_partners.applications.listing import APPLICATIONS
from prm_partners.applications.models import IdealPartnerProfile, PartnerApplication
from prm_partners.applications.schemas import (
    ApplicationDecision,
    ApplicationSubmit,
    IdealPartnerProfileIn,
    ProfileCriterion,
)
from prm_partners.config import EVENT_SOURCE
from prm_partners.declaration import (
    APPLICATIONS_READ,
    APPLICATIONS_WRITE,
    PARTNERS_WRITE,
    PROGRAMME_READ,
    PROGRAMME_WRITE,
)
from prm_partners.names import partner_names
from prm_partners.partners import service as partners
from prm_partners.partners.schemas import PartnerCreate
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, InvalidTransition, NotFound, Unprocessable, field_error
from prm_platform.security import Principal

_PROFILE_ID = 1


async def _publish(session: AsyncSession, application: PartnerApplication,
                   payload: PartnerApplicationSubmittedV1 | PartnerApplicationDecidedV1) -> None:
    await publish_event(session, payload, source=EVENT_SOURCE, aggregate_id=application.id)


async def profile(session: AsyncSession, *, for_update: bool = False
                  ) -> IdealPartnerProfile | None:
    query = select(IdealPartnerProfile).where(IdealPartnerProfile.id == _PROFILE_ID)
    return (await session.execute(query.with_for_update() if for_update else query)
            ).scalar_one_or_none()


async def read_profile(session: AsyncSession, principal: Principal
                       ) -> IdealPartnerProfile | None:
    principal.require(PROGRAMME_READ)
    principal.ensure_vendor()  # what the vendor looks for in partners is its own business
    return await profile(session)


async def set_profile(session: AsyncSession, principal: Principal, data: IdealPartnerProfileIn,
                      if_match: str | None) -> IdealPartnerProfile:
    principal.require(PROGRAMME_WRITE)
    principal.ensure_vendor()
    now = dt.datetime.now(dt.UTC)
    # Until the first profile is set there is no row to lock: writers queue on the empty one
    # (version 0, as it reads) that the first of them inserts, instead of all inserting one.
    await session.execute(insert(IdealPartnerProfile).values(
        id=_PROFILE_ID, criteria=[], version=0, updated_at=now).on_conflict_do_nothing())
    current = await profile(session, for_update=True)
    assert current is not None
    check_if_match(if_match, current.version)
    criteria = [c.model_dump() for c in data.criteria]
    if current.version == 0 or current.criteria != criteria:
        current.criteria, current.version, current.updated_at = criteria, \
            current.version + 1, now
    await session.flush()
    return current


def _criteria(stored: list[dict[str, Any]]) -> list[fit.Criterion]:
    return [fit.Criterion(**ProfileCriterion.model_validate(c).model_dump()) for c in stored]


async def submit(session: AsyncSession, principal: Principal, data: ApplicationSubmit
                 ) -> PartnerApplication:
    principal.require(APPLICATIONS_WRITE)
    principal.ensure_vendor()  # partners do not apply: they are partners already
    if data.website_domain and await session.scalar(select(PartnerApplication.id).where(
            PartnerApplication.website_domain == data.website_domain,
            PartnerApplication.status == "submitted")):
        raise Conflict(f"an application for {data.website_domain} is already under review")
    ideal = await profile(session)
    values = data.model_dump(exclude={"contact", "message"})
    values["type"] = data.type.value
    score, scored = fit.score(_criteria(ideal.criteria) if ideal else [], values)
    now = dt.datetime.now(dt.UTC)
    application = PartnerApplication(
        id=new_id(), company_name=data.company_name, type=data.type.value,
        country=data.country, countries_served=data.countries_served,
        specialisations=data.specialisations, website_domain=data.website_domain,
        employees=data.employees, contact=data.contact.model_dump(exclude_none=True),
        message=data.message, status="submitted", fit_score=score,
        fit={"profile_version": ideal.version if ideal else None,
             "criteria": [{"field": s.field, "weight": s.weight,
                           "points": _exact(s.points), "reason": s.reason,
                           "reason_code": s.code, "reason_params": s.params}
                          for s in scored]},
        version=1, created_at=now, updated_at=now)
    session.add(application)
    await session.flush()
    await _publish(session, application, PartnerApplicationSubmittedV1(
        application_id=application.id, company_name=application.company_name,
        type=application.type, country=application.country, fit_score=score))
    return application


def _exact(points: Fraction) -> str:
    """Points as a decimal string, to four places (the score itself is computed exactly)."""
    shown = (Decimal(points.numerator) / Decimal(points.denominator)).quantize(Decimal("0.0001"))
    return format(shown.normalize(), "f")


async def get(session: AsyncSession, principal: Principal, application_id: uuid.UUID,
              *, for_update: bool = False) -> PartnerApplication:
    principal.require(APPLICATIONS_READ)
    principal.ensure_vendor()
    query = select(PartnerApplication).where(PartnerApplication.id == application_id)
    found = (await session.execute(query.with_for_update() if for_update else query)
             ).scalar_one_or_none()
    if found is None:
        raise NotFound("application not found")
    return found


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[PartnerApplication], str | None, int | None,
                               dict[uuid.UUID, str]]:
    """A page of applications, and the names of the partners they created."""
    principal.require(APPLICATIONS_READ)
    principal.ensure_vendor()
    rows, next_cursor, total = await APPLICATIONS.page(session, select(PartnerApplication),
                                                       query)
    return rows, next_cursor, total, await partner_names(session, (a.partner_id for a in rows))


async def partner_name(session: AsyncSession, partner_id: uuid.UUID | None) -> str | None:
    return (await partner_names(session, [partner_id])).get(partner_id) if partner_id else None


async def decide(session: AsyncSession, principal: Principal, application_id: uuid.UUID,
                 approve: bool, decision: ApplicationDecision, if_match: str | None
                 ) -> PartnerApplication:
    principal.require(PARTNERS_WRITE)
    application = await get(session, principal, application_id, for_update=True)
    check_if_match(if_match, application.version)
    if application.status != "submitted":
        raise InvalidTransition(f"this application was {application.status} already",
                                current_status=application.status)
    if not approve and not decision.reason:
        raise Unprocessable("say why: declining takes a reason",
                            errors=[field_error("body.reason", "required to decline")])
    if approve:
        partner = await partners.create(session, principal, PartnerCreate(
            name=application.company_name, type=application.type, country=application.country,
            countries_served=application.countries_served,
            specialisations=application.specialisations,
            website_domain=application.website_domain, employees=application.employees))
        application.partner_id = partner.id
    now = dt.datetime.now(dt.UTC)
    application.status = "approved" if approve else "declined"
    application.decision_reason, application.decided_by = decision.reason, principal.subject
    application.decided_at = application.updated_at = now
    application.version += 1
    await session.flush()
    await _publish(session, application, PartnerApplicationDecidedV1(
        application_id=application.id, decision=application.status,
        partner_id=application.partner_id, reason=decision.reason))
    return application
