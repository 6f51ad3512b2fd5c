"""The touchpoints' list grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid

from prm_attribution.rules.schemas import TouchKind
from prm_attribution.touchpoints.models import Touchpoint
from prm_attribution.touchpoints.schemas import TouchpointSource
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import DomainName

# Touchpoints never change once recorded, nor are they deleted: instead of a change feed,
# ``recorded_at[gte]=<the last seen>&sort=recorded_at`` pulls the new ones.
TOUCHPOINTS = Listing(
    Touchpoint.id,
    Filter("partner_id", Touchpoint.partner_id, uuid.UUID,
           "Only the touches of these partners."),
    Filter("deal_id", Touchpoint.deal_id, uuid.UUID, "Only the touches on these deals."),
    Filter("customer_domain", Touchpoint.customer_domain, DomainName,
           "Only the touches on these customers (the touches on a deal carry its customer's "
           "domain too, once the deal is known)."),
    Filter("kind", Touchpoint.kind, TouchKind),
    Filter("source", Touchpoint.source, TouchpointSource,
           "Only the touches recorded through the API (`api`) or from events (`event`: "
           "the deals' registrations, the campaigns' engagements)."),
    Filter("mdf_request_id", Touchpoint.mdf_request_id, uuid.UUID,
           "Only the touches linked to these MDF activities."),
    Filter("campaign_id", Touchpoint.campaign_id, uuid.UUID,
           "Only the engagements of these campaigns."),
    Range("occurred_at", Touchpoint.occurred_at, QueryTime, "When it happened"),
    Range("recorded_at", Touchpoint.recorded_at, QueryTime, "When it was recorded here"),
    sorts={"occurred_at": Touchpoint.occurred_at, "recorded_at": Touchpoint.recorded_at},
)
