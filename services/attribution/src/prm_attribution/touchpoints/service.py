"""Touchpoints recorded through the API. A partner key records its own org's touches, on a
deal of its own or on a customer; a vendor key records anyone's (an SI's workshop on a
reseller's deal). Each recorded touch recomputes the deals it counts for."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.declaration import ATTRIBUTION_READ, ATTRIBUTION_WRITE
from prm_attribution.directory.names import partner_names
from prm_attribution.results.service import OPEN_STATUSES, read_history, recompute
from prm_attribution.touchpoints.listing import TOUCHPOINTS
from prm_attribution.touchpoints.models import Touchpoint
from prm_attribution.touchpoints.schemas import TouchpointIn, TouchpointOut
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Forbidden, NotFound, Unprocessable
from prm_platform.security import Principal

# A customer touch recomputes at most this many of the customer's deals (newest first).
MAX_DEALS_PER_CUSTOMER_TOUCH = 100


async def record(session: AsyncSession, principal: Principal, data: TouchpointIn
                 ) -> Touchpoint:
    principal.require(ATTRIBUTION_WRITE)
    if principal.is_partner:
        if data.partner_id not in (None, principal.partner_id):
            raise Forbidden("a partner key records touches of its own org only")
        partner_id = principal.partner_id
    elif data.partner_id is None:
        raise Unprocessable("partner_id is required with a vendor key")
    else:
        partner_id = data.partner_id
    assert partner_id is not None
    if (data.deal_id is None) == (data.customer_domain is None):
        raise Unprocessable("give either deal_id or customer_domain")
    domain = data.customer_domain.lower() if data.customer_domain else None
    if data.deal_id is not None:
        owner = (await session.execute(text("SELECT partner_id, customer_domain FROM deals "
                                            "WHERE deal_id = :d"), {"d": data.deal_id})).first()
        # A partner may touch only a deal it registered; another org's is "not found". A vendor
        # may record a touch before the deal's registration event arrived.
        if principal.is_partner and (owner is None or owner.partner_id != partner_id):
            raise NotFound("deal not found")
        domain = owner.customer_domain if owner is not None else None
    if data.mdf_request_id is not None:
        activity = (await session.execute(text(
            "SELECT partner_id FROM mdf_activities WHERE request_id = :r"),
            {"r": data.mdf_request_id})).first()
        # A partner links only its own activity (another org's is "not found"); a vendor may
        # link one whose events have not arrived yet, but never another partner's.
        if principal.is_partner and (activity is None or activity.partner_id != partner_id):
            raise NotFound("MDF activity not found")
        if activity is not None and activity.partner_id != partner_id:
            raise Unprocessable("the MDF activity belongs to another partner")
    touch = Touchpoint(id=new_id(), partner_id=partner_id, deal_id=data.deal_id,
                       customer_domain=domain, kind=data.kind, occurred_at=data.occurred_at,
                       evidence=data.evidence.model_dump(exclude_none=True), source="api",
                       recorded_by=principal.subject, recorded_at=dt.datetime.now(dt.UTC),
                       mdf_request_id=data.mdf_request_id)
    session.add(touch)
    await session.flush()
    await recompute_counted(session, deal_id=touch.deal_id, customer_domain=domain,
                            occurred_at=touch.occurred_at)
    return touch


async def recompute_counted(session: AsyncSession, *, deal_id: uuid.UUID | None,
                            customer_domain: str | None, occurred_at: dt.datetime) -> None:
    """Recompute the deals a touch just written counts for (its deal, or its customer's
    deals it counts for), whoever wrote it: the API or an event's handler."""
    deals = await _deals_counting(session, deal_id, customer_domain, occurred_at)
    # A customer's touch may count for many deals: the history is read once for all of them
    # (after the touch is written, so it includes it as each deal's own read would).
    history = await read_history(session) if len(deals) > 1 else None
    for counted in deals:
        await recompute(session, counted, history=history)


async def _deals_counting(session: AsyncSession, deal_id: uuid.UUID | None,
                          customer_domain: str | None, occurred_at: dt.datetime
                          ) -> Sequence[uuid.UUID]:
    if deal_id is not None:
        return [deal_id]
    return list((await session.execute(text(
        "SELECT deal_id FROM deals WHERE customer_domain = :domain AND "
        "(status = ANY(:open) OR (status = 'won' AND closed_on >= CAST(:at AS date))) "
        "ORDER BY deal_id DESC LIMIT :limit"), {
            "domain": customer_domain, "open": list(OPEN_STATUSES),
            "at": occurred_at, "limit": MAX_DEALS_PER_CUSTOMER_TOUCH})).scalars())


async def get(session: AsyncSession, principal: Principal, touch_id: uuid.UUID) -> Touchpoint:
    principal.require(ATTRIBUTION_READ)
    touch = await session.get(Touchpoint, touch_id)
    if touch is None:
        raise NotFound("touchpoint not found")
    principal.ensure_visible(touch.partner_id, "touchpoint")
    return touch


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Touchpoint], str | None, int | None]:
    principal.require(ATTRIBUTION_READ)
    visible = select(Touchpoint)
    if principal.is_partner:  # its own org's, whatever filter it sent
        visible = visible.where(Touchpoint.partner_id == principal.partner_id)
    return await TOUCHPOINTS.page(session, visible, query)


async def described(session: AsyncSession, touches: Sequence[Touchpoint]
                    ) -> list[TouchpointOut]:
    """The touches as answered, each with its partner's name (one read for them all)."""
    names = await partner_names(session, (t.partner_id for t in touches))
    return [TouchpointOut.model_validate(t).model_copy(
        update={"partner_name": names.get(t.partner_id)}) for t in touches]
