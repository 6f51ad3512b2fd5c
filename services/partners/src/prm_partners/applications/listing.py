"""The applications' list grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from prm_partners.applications.models import PartnerApplication
from prm_partners.applications.schemas import ApplicationStatus
from prm_partners.partners.schemas import PartnerType, Specialisation
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import CountryCode

FitScore = Annotated[int, Field(ge=0, le=100)]

APPLICATIONS = Listing(
    PartnerApplication.id,
    Filter("status", PartnerApplication.status, ApplicationStatus),
    Filter("type", PartnerApplication.type, PartnerType, "Only applicants of these types."),
    Filter("country", PartnerApplication.country, CountryCode,
           "Only applicants based in these countries."),
    Filter("countries_served", PartnerApplication.countries_served, CountryCode,
           "Only applicants serving any of these countries."),
    Filter("specialisations", PartnerApplication.specialisations, Specialisation,
           "Only applicants with any of these specialisations."),
    Filter("partner_id", PartnerApplication.partner_id, uuid.UUID,
           "Only the applications that created these partners (on approval)."),
    Range("fit_score", PartnerApplication.fit_score, FitScore, "The fit score (0..100)"),
    Range("created_at", PartnerApplication.created_at, QueryTime, "When it was submitted"),
    Range("decided_at", PartnerApplication.decided_at, QueryTime, "When it was decided"),
    sorts={"fit_score": PartnerApplication.fit_score,
           "company_name": PartnerApplication.company_name},
    search=PartnerApplication.search_text, search_fields=("company name", "website domain"),
    updated=PartnerApplication.updated_at,
)
