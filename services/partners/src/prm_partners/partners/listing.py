"""The partner directory's list grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import StringConstraints

from prm_partners.partners.models import Partner
from prm_partners.partners.schemas import PartnerStatus, PartnerType
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import CountryCode, LanguageTag

Word = Annotated[str, StringConstraints(min_length=1, max_length=60)]

DIRECTORY = Listing(
    Partner.id,
    Filter("status", Partner.status, PartnerStatus),
    Filter("type", Partner.type, PartnerType),
    Filter("country", Partner.country, CountryCode, "Only partners based in these countries."),
    Filter("countries_served", Partner.countries_served, CountryCode,
           "Only partners serving any of these countries."),
    Filter("specialisations", Partner.specialisations, Word,
           "Only partners with any of these specialisations (as written)."),
    Filter("languages", Partner.languages, LanguageTag,
           "Only partners working in any of these languages."),
    Filter("tier", Partner.tier, Word, "Only partners holding these tiers."),
    Filter("parent_id", Partner.parent_id, uuid.UUID, "Only the resellers of these distributors."),
    Range("created_at", Partner.created_at, QueryTime, "When it was created"),
    sorts={"name": Partner.name},
    search=Partner.search_text, search_fields=("name", "website domain"),
    updated=Partner.updated_at,
)
