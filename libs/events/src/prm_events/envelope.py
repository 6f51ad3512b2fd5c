"""CloudEvents 1.0 envelope, structured JSON mode.

Extensions: ``partnerid`` (the partner org the event concerns, for routing and tenancy) and
``traceparent`` (W3C trace context of the request that caused it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from prm_contracts import CONTRACTS, EventPayload
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
    traceparent: str | None = None

    def payload(self) -> EventPayload:
        """The typed payload for a known type (raises KeyError for an unknown one)."""
        return CONTRACTS[self.type].model_validate(self.data)

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
    return CloudEvent(
        id=new_id(),
        source=source,
        type=payload.event_type,
        subject=subject,
        time=dt.datetime.now(dt.UTC),
        data=payload.model_dump(mode="json"),
        partnerid=str(partner_id) if partner_id else None,
        traceparent=traceparent,
    )
