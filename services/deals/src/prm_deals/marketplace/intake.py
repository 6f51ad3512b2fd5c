"""The marketplaces' signed events: an offer's status in the marketplace's words, mapped to the
lifecycle and applied, each event once (by its id); the customer's acceptance may win the
offer's deal, through the deal lifecycle's own win, for the vendor's net.

Events are recorded with the answer they were given, under a transaction-scoped lock of their
id: the same event again, however often and however concurrently, is answered the same and
changes nothing. Events naming no offer this programme has are refused (422) and not recorded,
so the marketplace's retry succeeds once the offer is known."""

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_deals.declaration import DEALS_READ, DEALS_WRITE, MARKETPLACE_EVENTS
from prm_deals.marketplace import service, statuses
from prm_deals.marketplace.models import MarketplaceEvent, MarketplaceOffer
from prm_deals.marketplace.schemas import (
    AwsEvent,
    AzureEvent,
    EventOutcome,
    GcpEvent,
    MarketplaceEventOut,
    OfferStatus,
)
from prm_deals.registrations import lifecycle
from prm_deals.registrations import repository as deals
from prm_platform.problems import Forbidden, Unprocessable, field_error
from prm_platform.security import Principal, PrincipalKind

# The AWS EventBridge detail types whose ``detail.status`` is an offer's or agreement's status.
AWS_STATUS_EVENTS = frozenset({"Agreement Status Changed", "Offer Status Changed",
                               "Offer Released", "Agreement Created", "Agreement Updated"})
AZURE_STATUS_EVENTS = frozenset({"PrivateOfferStateChanged", "Microsoft.Marketplace."
                                 "PrivateOfferStateChanged"})
GCP_OFFER_STATE = "PRIVATE_OFFER_STATE_CHANGED"


class IntakeNotConfigured(Forbidden):
    """The marketplace intake has no signing secret: every delivery is refused (fail closed)."""

    slug = "marketplace-intake-not-configured"


class UnknownOffer(Unprocessable):
    slug = "unknown-marketplace-offer"


Outcome = Literal["applied", "unchanged", "out_of_order", "ignored"]


@dataclass(frozen=True)
class Read:
    """What an event says, whatever its marketplace's shape."""

    marketplace: statuses.Marketplace
    event_id: str
    kind: str
    offer_id: str | None
    status: str | None
    agreement_id: str | None = None


def read(event: AwsEvent | AzureEvent | GcpEvent) -> Read:
    """The offer and status an event names; ``status`` None for an event not about one."""
    if isinstance(event, AwsEvent):
        acts = event.detail_type in AWS_STATUS_EVENTS and event.source != \
            "aws.partnercentral-selling"
        return Read("aws", event.id, event.detail_type, event.detail.offerId,
                    event.detail.status if acts else None, event.detail.agreementId)
    if isinstance(event, AzureEvent):
        acts = event.type in AZURE_STATUS_EVENTS
        return Read("azure", event.id, event.type, event.data.offerId,
                    event.data.state if acts else None)
    offer = event.entitlement.offer
    offer = offer.rsplit("/", 1)[-1] if offer else None
    if event.eventType == GCP_OFFER_STATE:
        status = event.state
    else:
        status = event.eventType if statuses.mapped("gcp", event.eventType) else None
    return Read("gcp", event.eventId, event.eventType, offer, status, event.entitlement.id)


async def _seen(session: AsyncSession, marketplace: str, event_id: str) -> MarketplaceEvent | None:
    # One delivery of an event id at a time: a concurrent duplicate waits here, then finds the
    # first one's answer.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"marketplace-event:{marketplace}:{event_id}"})
    return await session.get(MarketplaceEvent, (marketplace, event_id))


def _keep(session: AsyncSession, answer: MarketplaceEventOut) -> MarketplaceEventOut:
    session.add(MarketplaceEvent(marketplace=answer.marketplace, event_id=answer.event_id,
                                 offer_id=answer.offer_id,
                                 answer=answer.model_dump(mode="json", exclude={"duplicate"}),
                                 received_at=dt.datetime.now(dt.UTC)))
    return answer


async def receive(session: AsyncSession, principal: Principal,
                  event: AwsEvent | AzureEvent | GcpEvent) -> MarketplaceEventOut:
    principal.require(MARKETPLACE_EVENTS)
    principal.ensure_vendor()
    said = read(event)
    seen = await _seen(session, said.marketplace, said.event_id)
    if seen is not None:
        return MarketplaceEventOut.model_validate({**seen.answer, "duplicate": True})
    answer = MarketplaceEventOut(event_id=said.event_id, marketplace=said.marketplace,
                                 outcome="ignored")
    if said.status is None:
        return _keep(session, answer)
    if not said.offer_id:
        raise Unprocessable("the event names no offer", errors=[
            field_error("body.offer", "the marketplace's offer id is missing")])
    lifecycle_status = statuses.mapped(said.marketplace, said.status)
    if lifecycle_status is None:
        raise Unprocessable(f"{said.status!r} is not a {said.marketplace} offer status this "
                            "intake knows", errors=[field_error("body.status", "unknown "
                                                                "status")])
    row = (await session.execute(select(MarketplaceOffer).where(
        MarketplaceOffer.marketplace == said.marketplace,
        MarketplaceOffer.external_offer_id == said.offer_id).with_for_update())
    ).scalar_one_or_none()
    if row is None:
        raise UnknownOffer(f"no {said.marketplace} private offer has the offer id "
                           f"{said.offer_id}", marketplace=said.marketplace,
                           external_offer_id=said.offer_id)
    answer.offer_id = row.id
    previous = row.status
    answer.outcome = EventOutcome(_apply(row, said, lifecycle_status))
    if answer.outcome == "applied":
        await session.flush()
        service.record_change(session, row, previous, actor=principal.actor, source="event",
                              event_id=said.event_id, note=said.kind)
        await service.announce(session, row, "status_changed", previous)
    if lifecycle_status in statuses.ACCEPTANCE and row.status in statuses.ACCEPTANCE:
        answer.deal = await _win(session, principal, row)
        if answer.deal["outcome"] == "won" and answer.outcome != "applied":
            # won on a later acceptance event (the deal was approved meanwhile)
            row.version += 1
            row.updated_at = dt.datetime.now(dt.UTC)
            await session.flush()
            await service.announce(session, row, "deal_won", row.status)
    answer.marketplace_status, answer.status = row.marketplace_status, OfferStatus(row.status)
    return _keep(session, answer)


def _apply(row: MarketplaceOffer, said: Read, status: str) -> Outcome:
    if status == row.status:
        return "unchanged"
    if not statuses.moves_forward(row.status, status):
        return "out_of_order"
    assert said.status is not None
    now = dt.datetime.now(dt.UTC)
    row.status, row.marketplace_status = status, statuses.spelled(said.marketplace, said.status)
    if said.agreement_id and row.agreement_id is None:
        row.agreement_id = said.agreement_id
    if status in statuses.ACCEPTANCE and row.accepted_at is None:
        row.accepted_at = now
    row.version += 1
    row.updated_at = now
    return "applied"


async def _win(session: AsyncSession, principal: Principal, row: MarketplaceOffer
               ) -> dict[str, Any]:
    """The offer's acceptance wins its deal, once: for the vendor's net, closed today."""
    if row.deal_won_at is not None:
        return {"id": str(row.deal_id), "outcome": "already_won", "status": "won"}
    if not row.win_deal_on_acceptance:
        return {"id": str(row.deal_id), "outcome": "not_asked"}
    deal = await deals.get(session, row.deal_id, for_update=True)
    assert deal is not None  # a foreign key
    if deal.status == "won":
        return {"id": str(deal.id), "outcome": "already_won", "status": deal.status}
    if deal.status not in lifecycle.ACTIONS["win"].allowed_from:
        return {"id": str(deal.id), "outcome": "not_winnable", "status": deal.status,
                "detail": f"the deal is {deal.status}: only an approved registration is won"}
    # The integration acts for the vendor on this one deal: the lifecycle's own win, so that
    # prm.deal.won.v1 goes out through the outbox like any other win.
    acting = Principal(subject=principal.subject, kind=PrincipalKind.vendor,
                       scopes=frozenset({DEALS_READ, DEALS_WRITE}))
    net = service.split_of(row).vendor_net
    won = await lifecycle.act(session, acting, deal.id, "win", None,
                              won=(service.major(net, row.currency),
                                   dt.datetime.now(dt.UTC).date()))
    row.deal_won_at = dt.datetime.now(dt.UTC)
    return {"id": str(won.id), "outcome": "won", "status": won.status,
            "amount": service.to_money(net, row.currency).model_dump()}

