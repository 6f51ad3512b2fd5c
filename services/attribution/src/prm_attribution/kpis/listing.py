"""The list grammar (prm_platform.listing) of the KPI reports.

The KPIs per partner are computed, not rows of one table: their list pages the partners the
programme knows of (``programme_partners``: every partner of the directory, the deals, the
credits and the costs, so a partner whose partner events have not arrived yet still has its
figures), by partner id, filtered by what the directory says of them. The MDF ROI per
activity pages the MDF activities, the campaign ROI the campaigns."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import select

from prm_attribution.campaigns.models import Campaign
from prm_attribution.costs.models import MdfActivity
from prm_attribution.directory.models import PartnerDirectoryEntry as Directory
from prm_attribution.directory.models import ProgrammePartner
from prm_platform.listing import Filter, Listing, Range
from prm_platform.types import CountryCode, Currency, QueryDate

Word = Annotated[str, StringConstraints(min_length=1, max_length=40)]
ActivityType = Annotated[str, StringConstraints(min_length=1, max_length=100)]

# Every partner the programme knows of, with what the directory says of it (nulls while it has
# not heard of it).
PROGRAMME_PARTNERS = (
    select(ProgrammePartner.partner_id, Directory.name, Directory.type, Directory.tier,
           Directory.country, Directory.joined_at, Directory.activated_at,
           Directory.onboarding_completed_at, Directory.search_text)
    .select_from(ProgrammePartner).outerjoin(
        Directory, Directory.partner_id == ProgrammePartner.partner_id)
    .subquery("programme_partners"))
_P = PROGRAMME_PARTNERS.c

# Figures move with deals, credits, costs and rates alike: no change feed, and no sort but the
# partner id (a figure is computed per page, so no index can order by it).
KPI_PARTNERS = Listing(
    _P.partner_id,
    Filter("partner_id", _P.partner_id, uuid.UUID, "Only these partners."),
    Filter("partner_type", _P.type, Word, "Only partners of these types (reseller, si, ...)."),
    Filter("tier", _P.tier, Word, "Only partners holding these tiers."),
    Filter("country", _P.country, CountryCode, "Only partners based in these countries."),
    search=_P.search_text, search_fields=("partner name",),
    id_filter=False,
)

# An activity's figures move with claims and credits, not with its row: no change feed.
MDF_ACTIVITIES = Listing(
    MdfActivity.request_id,
    Filter("request_id", MdfActivity.request_id, uuid.UUID, "Only these activities (MDF "
           "fund requests)."),
    Filter("partner_id", MdfActivity.partner_id, uuid.UUID, "Only these partners' "
           "activities."),
    Filter("activity_type", MdfActivity.activity_type, ActivityType),
    Filter("status", MdfActivity.status, Word, "Only activities whose fund request is in "
           "these statuses (submitted, approved, ...)."),
    Filter("currency", MdfActivity.currency, Currency, "Only activities planned in these "
           "currencies."),
    Range("start_date", MdfActivity.start_date, QueryDate, "The activity's first day"),
    Range("end_date", MdfActivity.end_date, QueryDate, "The activity's last day"),
    id_filter=False,
)

# A campaign's figures move with launches, engagements, claims and credits: no change feed.
CAMPAIGNS = Listing(
    Campaign.campaign_id,
    Filter("campaign_id", Campaign.campaign_id, uuid.UUID, "Only these campaigns."),
    id_filter=False,
)
