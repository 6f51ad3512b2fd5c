"""The campaign lists' grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid

from prm_deals.campaigns.models import (
    Campaign,
    CampaignEngagement,
    CampaignLaunch,
    CampaignVersion,
)
from prm_deals.campaigns.schemas import CampaignEngagementKind, MarketingCampaignStatus
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import LanguageTag

CAMPAIGNS = Listing(
    Campaign.id,
    Filter("status", Campaign.status, MarketingCampaignStatus, "Only campaigns in these statuses."),
    sorts={"created_at": Campaign.created_at, "updated_at": Campaign.updated_at},
    search=Campaign.search_text, search_fields=("name",),
    updated=Campaign.updated_at,
)
VERSIONS = Listing(CampaignVersion.number, id_filter=False, within=(CampaignVersion.campaign_id,))
LAUNCHES = Listing(
    CampaignLaunch.id,
    Filter("partner_id", CampaignLaunch.partner_id, uuid.UUID, "Only these partners' launches."),
    Filter("campaign_id", CampaignLaunch.campaign_id, uuid.UUID, "Only these campaigns' "
           "launches."),
    Filter("language", CampaignLaunch.language, LanguageTag, "Only launches in these "
           "languages."),
    Range("launched_at", CampaignLaunch.launched_at, QueryTime, "When it was launched"),
    sorts={"launched_at": CampaignLaunch.launched_at},
)
ENGAGEMENTS = Listing(
    CampaignEngagement.id,
    Filter("launch_id", CampaignEngagement.launch_id, uuid.UUID, "Only these launches'."),
    Filter("campaign_id", CampaignEngagement.campaign_id, uuid.UUID, "Only these campaigns'."),
    Filter("partner_id", CampaignEngagement.partner_id, uuid.UUID, "Only these partners'."),
    Filter("kind", CampaignEngagement.kind, CampaignEngagementKind, "Only these kinds."),
    Range("occurred_at", CampaignEngagement.occurred_at, QueryTime, "When it happened"),
    sorts={"occurred_at": CampaignEngagement.occurred_at,
           "received_at": CampaignEngagement.received_at},
)
