"""The list grammar (prm_platform.listing) of the audit trail."""

import uuid
from typing import Annotated

from pydantic import StringConstraints

from prm_audit.models import audit_entries as e
from prm_audit.trail.schemas import ChainName
from prm_platform.listing import Filter, Listing, QueryTime, Range

# No spaces and no control characters (PostgreSQL refuses NUL in text).
_WORD = r"[^\s\x00-\x1f\x7f]+"
Actor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300,
                                         pattern=rf"^(key|user|job|service):{_WORD}$")]
EventType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=200,
                                             pattern=r"^[a-z][a-z0-9_.-]*$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300,
                                        pattern=rf"^{_WORD}$")]

ENTRIES = Listing(
    e.c.id,
    Filter("actor", e.c.actor, Actor, "Only what these did: `key:<API key id>`, "
           "`user:<subject>`, `job:<name>` or `service:<name>`."),
    Filter("record", e.c.records, Text, "Only what happened to these records (their ids): "
           "entries whose event is keyed by one, or whose data names one (a claim's events "
           "by the claim's id, a partner's by its id)."),
    Filter("type", e.c.type, EventType, "Only these event types (e.g. "
           "`prm.mdf.claim.approved.v1`)."),
    Filter("service", e.c.service, ChainName, "Only these services' entries."),
    Filter("partner_id", e.c.partner_id, uuid.UUID, "Only entries concerning these partners."),
    Filter("request_id", e.c.request_id, Text, "Only what these API requests caused."),
    Range("occurred_at", e.c.occurred_at, QueryTime, "When it happened"),
    sorts={"occurred_at": e.c.occurred_at},
    description="In the order recorded (oldest first) unless sorted by when it happened.",
)
