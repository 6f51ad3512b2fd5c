from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from prm_platform.security import PrincipalKind


class NotificationState(StrEnum):
    """Where a notification is for the caller: `unread`, `read`, `dismissed`, or `active`
    (unread or read: not dismissed)."""

    unread = "unread"
    read = "read"
    dismissed = "dismissed"
    active = "active"


class NotificationOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "id": "5b0e1f0c-9a53-5f55-9f0e-3f7c8d1e2a4b",
        "event_id": "0191f3a4-0000-7000-8000-000000000002", "audience": "partner",
        "partner_id": "0191f3a4-0000-7000-8000-000000000001", "kind": "deal.approved",
        "title": "Deal registration approved",
        "body": "Your registration for Globex AG is approved and protected until 2027-04-30.",
        "data": {"deal_id": "0191f3a4-0000-7000-8000-000000000003", "status": "approved",
                 "protected_until": "2027-04-30", "customer_name": "Globex AG"},
        "subject_type": "deal", "subject_id": "0191f3a4-0000-7000-8000-000000000003",
        "occurred_at": "2027-01-31T12:00:00Z"}]}}

    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The event it tells of")
    audience: PrincipalKind = Field(description="Whom it is for: a partner org's people, or "
                                    "the vendor's staff")
    partner_id: uuid.UUID | None = Field(description="The partner org it concerns")
    kind: str = Field(description="What happened, e.g. deal.approved, "
                      "mdf_request.changes_requested, deal.review_needed")
    title: str
    body: str
    data: dict[str, Any] = Field(description="The event's facts, for a portal that words "
                                 "the notification itself")
    subject_type: str = Field(description="The record it is about: deal, mdf_request, "
                              "mdf_claim, payout, partner, certification, lead")
    subject_id: uuid.UUID
    occurred_at: dt.datetime
    read_at: dt.datetime | None = Field(default=None, description="When the caller marked it "
                                        "read (absent or null: unread)")
    dismissed_at: dt.datetime | None = Field(default=None, description="When the caller "
                                             "dismissed it")


class MarkedCount(BaseModel):
    marked: int = Field(description="How many notifications this marked")
