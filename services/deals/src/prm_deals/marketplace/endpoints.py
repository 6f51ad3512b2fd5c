"""Routes of the marketplace part: private offers made through partners, their history, and
the marketplaces' signed events."""

import uuid
from typing import Annotated

from fastapi import Depends, Response

from prm_deals.declaration import MARKETPLACE_EVENTS
from prm_deals.marketplace import intake, service
from prm_deals.marketplace.listing import HISTORY, OFFERS
from prm_deals.marketplace.models import MarketplaceOffer
from prm_deals.marketplace.schemas import (
    ActionIn,
    MarketplaceEventIn,
    MarketplaceEventOut,
    OfferChangeOut,
    OfferIn,
    OfferOut,
    OfferPatch,
)
from prm_platform.http import (
    Caller,
    IdempotencyKeyHeader,
    IfMatchHeader,
    Session,
    etag,
    resource_headers,
    service_router,
)
from prm_platform.listing import ListQuery, Page
from prm_platform.problems import problem_responses
from prm_platform.signatures import signed_delivery

router = service_router("/v1/marketplace-offers", "marketplace")
events_router = service_router("/v1/marketplace-events", "marketplace")

_STATES = problem_responses(404, 409, 412, 422)


def _out(row: MarketplaceOffer, response: Response) -> OfferOut:
    response.headers["ETag"] = etag(row.version)
    return service.out(row)


@router.post("", status_code=201, summary="Make a private offer",
             description="Vendor keys (`marketplace:write`). A private offer on AWS, Azure or "
             "Google Cloud Marketplace made through the partner of an open deal registration, "
             "for its customer, in the deal's currency: the wholesale price, the partner's "
             "markup and the marketplace's fee (a percentage of the gross, or an amount), with "
             "a duration or start and end dates, and the marketplace's offer id (unique per "
             "marketplace). The kind must be one of the marketplace's. It starts as a `draft`. "
             "Emits `prm.marketplace_offer.changed.v1`.",
             responses={**problem_responses(409, 422), **resource_headers(201, location=True)})
async def create_marketplace_offer(body: OfferIn, response: Response, session: Session,
                                   caller: Caller, idempotency_key: IdempotencyKeyHeader = None
                                   ) -> OfferOut:
    row = await service.create(session, caller, body)
    response.headers["Location"] = f"/v1/marketplace-offers/{row.id}"
    return _out(row, response)


@router.get("", summary="List private offers",
            description="Takes `marketplace:read`: a partner key sees its own org's offers "
            "only. Filter by status, marketplace, kind, partner, deal and marketplace offer "
            "id; `updated_since` for a sync.")
async def list_marketplace_offers(
    session: Session, caller: Caller, query: Annotated[ListQuery, Depends(OFFERS.query)],
) -> Page[OfferOut]:
    rows, next_cursor, total = await service.list_page(session, caller, query)
    return Page[OfferOut](items=[service.out(r) for r in rows], next_cursor=next_cursor,
                          total_count=total)


@router.get("/{offer_id:uuid}", summary="Get a private offer",
            description="Takes `marketplace:read`; a partner key only its own org's (another "
            "org's is a 404). Both the marketplace's status and the lifecycle's, and the "
            "money: gross, fee, partner margin, vendor net.",
            responses={**problem_responses(404), **resource_headers()})
async def get_marketplace_offer(offer_id: uuid.UUID, response: Response, session: Session,
                                caller: Caller) -> OfferOut:
    return _out(await service.get(session, caller, offer_id), response)


@router.get("/{offer_id:uuid}/history", summary="List a private offer's status changes",
            description="Oldest first: each change's marketplace status and lifecycle status, "
            "the one before, and whether the vendor (`api`) or a marketplace event (`event`, "
            "with its id) made it.",
            responses=problem_responses(404))
async def list_marketplace_offer_history(
    offer_id: uuid.UUID, session: Session, caller: Caller,
    query: Annotated[ListQuery, Depends(HISTORY.query)],
) -> Page[OfferChangeOut]:
    items, next_cursor, total = await service.history(session, caller, offer_id, query)
    return Page[OfferChangeOut](items=items, next_cursor=next_cursor, total_count=total)


@router.patch("/{offer_id:uuid}", summary="Change a private offer",
              description="Vendor keys; a JSON merge patch of a `draft` or `published` offer, "
              "with `If-Match`: prices, fee, terms, the marketplace offer id, "
              "`win_deal_on_acceptance`. The money is computed again. A patch that changes "
              "nothing keeps the version and emits nothing.",
              responses={**_STATES, **resource_headers()})
async def change_marketplace_offer(offer_id: uuid.UUID, body: OfferPatch, response: Response,
                                   session: Session, caller: Caller,
                                   if_match: IfMatchHeader = None) -> OfferOut:
    return _out(await service.change(session, caller, offer_id, body, if_match), response)


@router.post("/{offer_id:uuid}/publish", summary="Publish a private offer",
             description="Vendor keys, with `If-Match`: a `draft` offer with its marketplace "
             "offer id becomes `published` (AWS `RELEASED`, Azure `live`, Google `PUBLISHED`).",
             responses={**_STATES, **resource_headers()})
async def publish_marketplace_offer(offer_id: uuid.UUID, response: Response, session: Session,
                                    caller: Caller, if_match: IfMatchHeader = None,
                                    idempotency_key: IdempotencyKeyHeader = None) -> OfferOut:
    return _out(await service.act(session, caller, offer_id, "publish", if_match), response)


@router.post("/{offer_id:uuid}/cancel", summary="Cancel a private offer",
             description="Vendor keys, with `If-Match`: a `draft` or `published` offer the "
             "customer has not accepted becomes `cancelled` (AWS `CANCELLED`, Azure "
             "`withdrawn`, Google `CANCELLED`). An accepted one ends on the marketplace, whose "
             "event says so.",
             responses={**_STATES, **resource_headers()})
async def cancel_marketplace_offer(offer_id: uuid.UUID, response: Response, session: Session,
                                   caller: Caller, body: ActionIn | None = None,
                                   if_match: IfMatchHeader = None,
                                   idempotency_key: IdempotencyKeyHeader = None) -> OfferOut:
    row = await service.act(session, caller, offer_id, "cancel", if_match,
                            body.reason if body else None)
    return _out(row, response)


signed = signed_delivery(
    "Marketplace-Signature", MARKETPLACE_EVENTS, "marketplace_secret",
    lambda: intake.IntakeNotConfigured("the marketplace intake has no signing secret "
                                       "configured (PRM_DEALS_MARKETPLACE_SECRET)"))


@events_router.post("", summary="Deliver a marketplace event (signed intake)",
                    description="For the marketplace integration: a vendor key that may do "
                    "nothing else (`marketplace_events:write`), every delivery signed with the "
                    "shared secret (`Marketplace-Signature`, see docs/marketplace.md): a "
                    "missing or forged signature, or one more than five minutes from ours, is "
                    "a 403 (`/problems/invalid-signature`); without a secret configured every "
                    "delivery is refused (403, `/problems/marketplace-intake-not-configured`). "
                    "AWS EventBridge events (`Agreement Status Changed`, `Offer Status "
                    "Changed`; Partner Central's are recorded and ignored), Azure private offer "
                    "state changes and Google Cloud Procurement messages. The offer is named by "
                    "its marketplace offer id (an unknown one is a 422, "
                    "`/problems/unknown-marketplace-offer`, not recorded); its status is "
                    "mapped to the lifecycle and applied unless the offer is further along. "
                    "The customer's acceptance wins the offer's deal once, for the vendor's "
                    "net, when `win_deal_on_acceptance`. Each event id is applied once: the "
                    "same event again answers the same, `duplicate: true`.",
                    dependencies=[Depends(signed)],
                    responses=problem_responses(403, 422))
async def deliver_marketplace_event(body: MarketplaceEventIn, session: Session, caller: Caller,
                                    idempotency_key: IdempotencyKeyHeader = None
                                    ) -> MarketplaceEventOut:
    return await intake.receive(session, caller, body)
