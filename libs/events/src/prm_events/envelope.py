"""CloudEvents 1.0 envelope, structured JSON mode.

Extensions: ``partnerid`` (the partner org the event concerns, for routing and tenancy),
``actor`` (who caused it: ``key:<id>``, ``user:<sub>``, ``job:<name>`` or ``service:<name>``,
see ``prm_platform.cause``), ``requestid`` (the API request at its origin, if any) and
``traceparent`` (W3C trace context: the ``outbox`` span of the event's recording, a child of
the request or the event application that caused it; set while telemetry is on).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from prm_contracts import CONTRACTS, EventPayload
from prm_platform import cause, telemetry
from prm_platform.ids import new_id


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = "1.0"
    id: uuid.UUID
    source: str
    type: str
    subject: str | None = None
    time: dt.datetime
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
    partnerid: str | None = None
    actor: str | None = None
    requestid: str | None = None
    traceparent: str | None = None

    def payload(self) -> EventPayload:
        """The typed payload for a known type (raises KeyError for an unknown one)."""
        return CONTRACTS[self.type].model_validate(self.data)

    def caused_by(self) -> cause.Cause | None:
        """What a consumer applying this event acts for (events before actors were recorded:
        none)."""
        return cause.Cause(self.actor, self.requestid) if self.actor else None

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_json(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)


def new_event(
    payload: EventPayload,
    *,
    source: str,
    subject: str,
    partner_id: uuid.UUID | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    acting = cause.current() or cause.Cause(cause.SERVICE_PREFIX + source)
    event_id = new_id()
    if traceparent is None and telemetry.enabled():
        traceparent = telemetry.mark(
            f"outbox {payload.event_type}", kind=telemetry.SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.operation.type": "create",
                        "messaging.destination.name": payload.topic,
                        "messaging.message.id": str(event_id)})
    return CloudEvent(
        id=event_id,
        source=source,
        type=payload.event_type,
        subject=subject,
        time=dt.datetime.now(dt.UTC),
        data=payload.model_dump(mode="json"),
        partnerid=str(partner_id) if partner_id else None,
        actor=acting.actor,
        requestid=acting.request_id,
        traceparent=traceparent,
    )
