"""The leads lists' grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import StringConstraints

from prm_deals.leads.models import Lead, LeadAssignment, LeadRoutingRule, LeadRoutingRuleVersion
from prm_deals.leads.schemas import LeadStatus
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import CountryCode

Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]

LEADS = Listing(
    Lead.id,
    Filter("status", Lead.status, LeadStatus, "Only leads in these statuses (`queued`: the "
           "vendor's queue)."),
    Filter("partner_id", Lead.partner_id, uuid.UUID, "Only leads offered to or held by these "
           "partners."),
    Filter("country", Lead.company_country, CountryCode, "Only leads from these countries."),
    Filter("external_id", Lead.external_id, Label, "Only these ids of the sending system."),
    Range("created_at", Lead.created_at, QueryTime, "When it came in"),
    sorts={"created_at": Lead.created_at, "updated_at": Lead.updated_at},
    search=Lead.search_text, search_fields=("company name", "domain"),
    updated=Lead.updated_at,
)
# A lead's offers, oldest first, read under the lead.
ASSIGNMENTS = Listing(LeadAssignment.id, within=(LeadAssignment.lead_id,))
RULES = Listing(
    LeadRoutingRule.id,
    sorts={"position": LeadRoutingRule.position},
    default_sort=(("position", False),),
    updated=LeadRoutingRule.updated_at,
)
VERSIONS = Listing(LeadRoutingRuleVersion.version, id_filter=False,
                   within=(LeadRoutingRuleVersion.rule_id,))
