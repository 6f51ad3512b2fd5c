"""The API key list's grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid

from prm_gateway.api_keys.models import ApiKey
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.security import PrincipalKind

KEYS = Listing(
    ApiKey.id,
    Filter("partner_id", ApiKey.partner_id, uuid.UUID, "Only these partner orgs' keys."),
    Filter("kind", ApiKey.kind, PrincipalKind, "Only vendor or partner keys."),
    Range("created_at", ApiKey.created_at, QueryTime, "When it was issued"),
    sorts={"name": ApiKey.name},
    search=ApiKey.search_text, search_fields=("name",),
    updated=ApiKey.updated_at,
)
