import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_MESSAGE_ID = "0193c1d3-4b5c-7d6e-8f90-a1b2c3d4e5f6"
_ENDPOINT_ID = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"
_DELIVERY: dict[str, Any] = {
    "id": "0193c1d3-4b5c-7d6e-8f90-a1b2c3d4e5f7", "endpoint_id": _ENDPOINT_ID,
    "status": "pending", "attempts": 2, "next_attempt_at": "2026-11-22T09:35:00Z",
    "last_response_status": 503, "last_error": "HTTP 503", "updated_at": "2026-11-22T09:30:05Z"}


class WebhookDeliveryOut(BaseModel):
    """One message's way to one endpoint."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DELIVERY]})

    id: uuid.UUID
    endpoint_id: uuid.UUID
    status: str = Field(description="pending, succeeded or failed (no attempt left)")
    attempts: int
    next_attempt_at: dt.datetime = Field(description="When a pending delivery is next tried")
    last_response_status: int | None = None
    last_error: str | None = None
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> "WebhookDeliveryOut":
        return cls.model_validate(row, from_attributes=True)


class WebhookMessageOut(BaseModel):
    """An event as subscribers receive it. Its id is the `webhook-id` header, the same on
    every endpoint and every retry: receivers drop repeats by it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _MESSAGE_ID, "event_id": "0193c1d3-0000-7d6e-8f90-a1b2c3d4e5f6",
        "event_type": "prm.deal.approved.v1",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "partner_name": "Acme Cloud GmbH",
        "payload": {"type": "prm.deal.approved.v1", "timestamp": "2026-11-22T09:30:00Z",
                    "data": {"deal_id": "0193c1d2-0000-7000-8000-000000000001"}},
        "created_at": "2026-11-22T09:30:00Z", "deliveries": [_DELIVERY]}]})

    id: uuid.UUID
    event_id: uuid.UUID | None = Field(default=None, description="The event it carries; none "
                                       "for a test ping")
    event_type: str
    partner_id: uuid.UUID | None = Field(default=None, description="The partner org the event "
                                         "concerns; none for a vendor-only event")
    partner_name: str | None = Field(default=None, description="That partner org's name, "
                                     "from the partner directory; none if not known here yet")
    payload: dict[str, Any] = Field(description="The body that was signed and sent")
    created_at: dt.datetime
    deliveries: list[WebhookDeliveryOut] = Field(description="Its deliveries to the caller's "
                                                 "endpoints")


class WebhookAttemptOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1d3-4b5c-7d6e-8f90-a1b2c3d4e5f8", "message_id": _MESSAGE_ID,
        "endpoint_id": _ENDPOINT_ID, "delivery_id": _DELIVERY["id"],
        "attempted_at": "2026-11-22T09:30:05Z", "outcome": "failed", "response_status": 503,
        "latency_ms": 87, "response_body": "upstream unavailable", "error": "HTTP 503"}]})

    id: uuid.UUID
    message_id: uuid.UUID
    endpoint_id: uuid.UUID
    delivery_id: uuid.UUID
    attempted_at: dt.datetime
    outcome: str = Field(description="succeeded (2xx) or failed")
    response_status: int | None = Field(default=None, description="None if no answer came")
    latency_ms: int
    response_body: str | None = Field(default=None, description="The first 4 KiB of the answer")
    error: str | None = None

    @classmethod
    def of(cls, row: Any) -> "WebhookAttemptOut":
        return cls.model_validate(row, from_attributes=True)


class WebhookResend(BaseModel):
    """Sends a message again to one endpoint, with the same `webhook-id`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"endpoint_id": _ENDPOINT_ID}]})

    endpoint_id: uuid.UUID
