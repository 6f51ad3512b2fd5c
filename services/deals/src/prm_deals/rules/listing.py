"""The rules of engagement lists' grammar (prm_platform.listing)."""

from __future__ import annotations

from prm_deals.rules.models import EngagementRule, EngagementRuleVersion
from prm_platform.listing import Listing

# At most MAX_RULES rules exist: a few sorts and the change feed, no more.
RULES = Listing(
    EngagementRule.id,
    sorts={"position": EngagementRule.position},
    default_sort=(("position", False),),
    updated=EngagementRule.updated_at,
)
# A rule's versions, read under the rule: oldest first (``created_at`` sorts by version).
VERSIONS = Listing(EngagementRuleVersion.version, id_filter=False,
                   within=(EngagementRuleVersion.rule_id,))
