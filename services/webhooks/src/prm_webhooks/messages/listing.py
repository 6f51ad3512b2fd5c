"""The list grammar (prm_platform.listing) of webhook messages and of delivery attempts."""

from __future__ import annotations

import dataclasses
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlalchemy import ColumnElement, exists, select

from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_webhooks.messages.models import webhook_attempts as a
from prm_webhooks.messages.models import webhook_deliveries as d
from prm_webhooks.messages.models import webhook_messages as m


class DeliveryStatus(StrEnum):
    """Where a message's delivery to one endpoint is."""

    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class AttemptOutcome(StrEnum):
    """How one delivery attempt ended: `succeeded` (a 2xx) or `failed`."""

    succeeded = "succeeded"
    failed = "failed"


EventType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=200)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]


@dataclasses.dataclass(frozen=True)
class DeliveryFilter(Filter):
    """A filter on a message's deliveries: messages with a delivery whose ``column`` (of
    ``webhook_deliveries``) is any of the values. The message list applies these inside its
    condition on the caller's own deliveries (``on_delivery``), so that ``endpoint_id=`` and
    ``status=`` together mean one delivery that is both, and to the caller's endpoints."""

    def on_delivery(self, values: list[Any]) -> ColumnElement[bool]:
        return super().condition(values)

    def condition(self, values: list[Any]) -> ColumnElement[bool]:
        return exists(select(d.c.id).where(d.c.message_id == m.c.id,
                                           self.on_delivery(values)))


MESSAGES = Listing(
    m.c.id,
    Filter("event_type", m.c.event_type, EventType,
           "Only these event types, as sent (e.g. `prm.deal.approved.v1`)."),
    Filter("partner_id", m.c.partner_id, uuid.UUID, "Only the events of these partner orgs."),
    Filter("event_id", m.c.event_id, uuid.UUID, "Only the messages carrying these events."),
    DeliveryFilter("endpoint_id", d.c.endpoint_id, uuid.UUID,
                   "Only the messages delivered (or being delivered) to these endpoints."),
    DeliveryFilter("status", d.c.status, DeliveryStatus,
                   "Only the messages with a delivery in these statuses (with `endpoint_id`: "
                   "its delivery to those endpoints): `pending`, `succeeded`, `failed`."),
    Range("created_at", m.c.created_at, QueryTime, "When the event became a message"),
)
# The filters MESSAGES applies to a message's deliveries rather than to the message.
DELIVERY_FILTERS = {name: part for name, part in MESSAGES.filters.items()
                    if isinstance(part, DeliveryFilter)}

_OUTCOME = Filter("outcome", a.c.outcome, AttemptOutcome,
                  "Only the attempts that `succeeded` (2xx) or `failed`.")
_RESPONSE_STATUS = Filter("response_status", a.c.response_status, HttpStatus,
                          "Only the attempts answered with these HTTP statuses (e.g. "
                          "`429,503`).")
_ATTEMPTED_AT = Range("attempted_at", a.c.attempted_at, QueryTime, "When it was attempted")

# An endpoint's attempts, and a message's.
ENDPOINT_ATTEMPTS = Listing(
    a.c.id, _OUTCOME, _RESPONSE_STATUS,
    Filter("message_id", a.c.message_id, uuid.UUID, "Only the attempts of these messages."),
    _ATTEMPTED_AT,
)
MESSAGE_ATTEMPTS = Listing(
    a.c.id, _OUTCOME, _RESPONSE_STATUS,
    Filter("endpoint_id", a.c.endpoint_id, uuid.UUID, "Only the attempts to these endpoints."),
    _ATTEMPTED_AT,
)
