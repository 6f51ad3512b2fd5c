"""The webhook endpoints' list grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_webhooks.endpoints.filters import FILTER_PATTERN, normalise
from prm_webhooks.endpoints.models import webhook_endpoints as e


class DisabledReason(StrEnum):
    """Why the service disabled a webhook endpoint: `gone` (it answered 410) or `failing`
    (for days)."""

    gone = "gone"
    failing = "failing"


# An event-type filter as the endpoint keeps it (``deal.*`` is ``prm.deal.*``).
EventTypeFilter = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                   max_length=200, pattern=FILTER_PATTERN),
                            AfterValidator(normalise)]

ENDPOINTS = Listing(
    e.c.id,
    Filter("enabled", e.c.enabled, bool, "Only enabled (`true`) or disabled (`false`) ones."),
    Filter("partner_id", e.c.partner_id, uuid.UUID,
           "Only the endpoints of these partner orgs."),
    Filter("disabled_reason", e.c.disabled_reason, DisabledReason,
           "Only the endpoints the service disabled for this reason: `gone` (410) or "
           "`failing` (for days)."),
    Filter("event_types", e.c.event_types, EventTypeFilter,
           "Only the endpoints holding any of these event-type filters, as written on the "
           "endpoint (`deal.*` is `prm.deal.*`)."),
    Range("created_at", e.c.created_at, QueryTime, "When it was created"),
    Range("failing_since", e.c.failing_since, QueryTime,
          "Since when every delivery to it failed"),
    sorts={"description": e.c.description},
    search=e.c.search_text, search_fields=("URL", "description"),
    updated=e.c.updated_at,
)
