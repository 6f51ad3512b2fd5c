"""The attribution rules' list grammar (prm_platform.listing)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from prm_attribution.rules.models import AttributionRuleSet
from prm_platform.listing import Filter, Listing, QueryTime, Range

Version = Annotated[int, Field(ge=1, le=2**31 - 1)]

# Published versions never change nor are deleted: no change feed (`published_at[gte]` pulls
# the new ones).
RULES = Listing(
    AttributionRuleSet.id,
    Filter("version", AttributionRuleSet.version, Version, "Only these versions."),
    Range("version", AttributionRuleSet.version, Version, "The version"),
    Range("published_at", AttributionRuleSet.published_at, QueryTime, "When it was published"),
    sorts={"version": AttributionRuleSet.version},
)
