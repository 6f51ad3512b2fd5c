"""The resource library's lists (prm_platform.listing)."""

from __future__ import annotations

import uuid

from prm_partners.resources.models import EnablementResource, EnablementResourceUse
from prm_partners.resources.schemas import (
    EnablementResourceKind,
    EnablementResourceStatus,
    EnablementUseKind,
)
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import LanguageTag

RESOURCES = Listing(
    EnablementResource.id,
    Filter("kind", EnablementResource.kind, EnablementResourceKind, "Only these kinds."),
    Filter("status", EnablementResource.status, EnablementResourceStatus,
           "Only resources in these statuses (partners see published ones only)."),
    search=EnablementResource.search_text, search_fields=("title",),
    updated=EnablementResource.updated_at,
)
USES = Listing(
    EnablementResourceUse.id,
    Filter("resource_id", EnablementResourceUse.resource_id, uuid.UUID,
           "Only these resources' uses."),
    Filter("partner_id", EnablementResourceUse.partner_id, uuid.UUID,
           "Only these partners' uses."),
    Filter("contact_id", EnablementResourceUse.contact_id, uuid.UUID,
           "Only these contacts' uses."),
    Filter("kind", EnablementResourceUse.kind, EnablementUseKind, "Only views or downloads."),
    Filter("language", EnablementResourceUse.language, LanguageTag,
           "Only uses in these languages."),
    Range("used_at", EnablementResourceUse.used_at, QueryTime, "When it was used"),
    sorts={"used_at": EnablementResourceUse.used_at},
)
