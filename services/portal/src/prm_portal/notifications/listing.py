"""The list grammar (prm_platform.listing) of notifications."""

import uuid
from typing import Annotated

from pydantic import StringConstraints

from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_portal.models import notifications as n

Kind = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]

NOTIFICATIONS = Listing(
    n.c.id,
    Filter("kind", n.c.kind, Kind, "Only these kinds (e.g. `deal.approved`)."),
    Filter("subject_type", n.c.subject_type, Kind, "Only those about these kinds of record."),
    Filter("subject_id", n.c.subject_id, uuid.UUID, "Only those about these records."),
    Filter("partner_id", n.c.partner_id, uuid.UUID, "Only those concerning these partners."),
    Range("occurred_at", n.c.occurred_at, QueryTime, "When what it tells of happened"),
    sorts={"occurred_at": n.c.occurred_at},
    default_sort=(("occurred_at", True),),
)
