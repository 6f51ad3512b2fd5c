"""The deal list's grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from prm_deals.registrations.models import Deal, DealActivity, DealCollaborator
from prm_deals.registrations.schemas import CollaboratorSide, DealStatus, DealType, ExternalId
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import CountryCode, QueryDate

Executive = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Amount = Annotated[Decimal, Field(ge=0, le=Decimal("1e15"), allow_inf_nan=False)]

DEALS = Listing(
    Deal.id,
    Filter("partner_id", Deal.partner_id, uuid.UUID, "Only these partner orgs' deals."),
    Filter("status", Deal.status, DealStatus),
    Filter("customer_country", Deal.customer_country, CountryCode,
           "Only deals whose customer is in these countries."),
    Filter("deal_type", Deal.deal_type, DealType),
    Filter("account_executive", Deal.account_executive, Executive,
           "Only deals assigned to these account executives."),
    Filter("external_id", Deal.external_id, ExternalId,
           "Only the deals the registering partner's system named so."),
    Range("expected_close_date", Deal.expected_close_date, QueryDate, "Expected close date"),
    Range("amount", Deal.amount, Amount, "Amount (in the deal's currency)"),
    Range("protected_until", Deal.protected_until, QueryDate,
          "Last day of the partner's protection"),
    Range("closed_on", Deal.closed_on, QueryDate, "Day it was won or lost"),
    Range("created_at", Deal.created_at, QueryTime, "When it was registered"),
    sorts={"expected_close_date": Deal.expected_close_date, "amount": Deal.amount,
           "customer_name": Deal.customer_name},
    search=Deal.search_text, search_fields=("customer name", "customer domain"),
    updated=Deal.updated_at,
)

Kind = Annotated[str, StringConstraints(min_length=1, max_length=30)]

# A deal's timeline and its people, read under the deal (oldest first).
ACTIVITIES = Listing(
    DealActivity.id,
    Filter("kind", DealActivity.kind, Kind, "Only entries of these kinds."),
    Range("at", DealActivity.at, QueryTime, "When it happened"),
    within=(DealActivity.deal_id,),
)
COLLABORATORS = Listing(
    DealCollaborator.id,
    Filter("side", DealCollaborator.side, CollaboratorSide,
           "Only the partner's or the vendor's people."),
    within=(DealCollaborator.deal_id,),
)
