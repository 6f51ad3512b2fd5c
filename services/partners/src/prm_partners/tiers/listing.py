"""The tiers part's list grammar (prm_platform.listing): the tiers and a partner's tier
history."""

from __future__ import annotations

from prm_partners.tiers.models import Tier, TierChange
from prm_partners.tiers.schemas import TierChangeDirection, TierName
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import QueryDate

TIERS = Listing(
    Tier.id,
    Filter("name", Tier.name, TierName, "Only the tiers with these names."),
    Range("created_at", Tier.created_at, QueryTime, "When it was created"),
    sorts={"rank": Tier.rank},
    updated=Tier.updated_at,
)

TIER_HISTORY = Listing(
    TierChange.id,
    Filter("direction", TierChange.direction, TierChangeDirection),
    Filter("to_tier", TierChange.to_tier, TierName, "Only changes to these tiers."),
    Range("as_of", TierChange.as_of, QueryDate, "The day it was evaluated for"),
    Range("changed_at", TierChange.changed_at, QueryTime, "When it changed"),
    sorts={"as_of": TierChange.as_of},
)
