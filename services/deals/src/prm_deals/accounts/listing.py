"""The direct accounts list's grammar (prm_platform.listing)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from prm_deals.accounts.models import DirectAccount
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import CountryCode

Owner = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ExternalId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,100}$")]

ACCOUNTS = Listing(
    DirectAccount.id,
    Filter("owner", DirectAccount.owner, Owner, "Only these owners' accounts."),
    Filter("country", DirectAccount.country, CountryCode, "Only accounts in these countries."),
    Filter("external_id", DirectAccount.external_id, ExternalId, "Only these CRM ids."),
    Range("created_at", DirectAccount.created_at, QueryTime, "When it was created"),
    sorts={"name": DirectAccount.name},
    search=DirectAccount.search_text, search_fields=("name", "domain"),
    updated=DirectAccount.updated_at,
)
