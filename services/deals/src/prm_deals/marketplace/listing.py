"""The marketplace lists' grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import StringConstraints

from prm_deals.marketplace.models import MarketplaceOffer, MarketplaceOfferChange
from prm_deals.marketplace.schemas import MarketplaceName, OfferKind, OfferStatus
from prm_platform.listing import Filter, Listing, QueryTime, Range

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]

OFFERS = Listing(
    MarketplaceOffer.id,
    Filter("status", MarketplaceOffer.status, OfferStatus, "Only offers in these lifecycle "
           "statuses."),
    Filter("marketplace", MarketplaceOffer.marketplace, MarketplaceName, "Only offers on "
           "these marketplaces."),
    Filter("kind", MarketplaceOffer.kind, OfferKind, "Only offers of these kinds (each kind "
           "is one marketplace's)."),
    Filter("partner_id", MarketplaceOffer.partner_id, uuid.UUID, "Only these partners' "
           "offers."),
    Filter("deal_id", MarketplaceOffer.deal_id, uuid.UUID, "Only offers for these deals."),
    Filter("external_offer_id", MarketplaceOffer.external_offer_id, Label, "Only these "
           "marketplace offer ids."),
    Range("created_at", MarketplaceOffer.created_at, QueryTime, "When it was made"),
    sorts={"created_at": MarketplaceOffer.created_at,
           "updated_at": MarketplaceOffer.updated_at},
    updated=MarketplaceOffer.updated_at,
)
# An offer's status changes, oldest first, read under the offer.
HISTORY = Listing(MarketplaceOfferChange.id, within=(MarketplaceOfferChange.offer_id,))
