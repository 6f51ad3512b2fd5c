import datetime as dt
import re
import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

from prm_platform.types import IsoDateTime
from prm_webhooks.endpoints.filters import FILTER_PATTERN, normalise

MAX_FILTERS = 50
MAX_HEADERS = 10
MAX_RATE_LIMIT = 1000
MAX_OVERLAP_HOURS = 168

_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
# Ours, hop-by-hop ones, and those the HTTP layer sets: an endpoint cannot name them, so a
# receiver never mistakes a custom value for ours and nothing internal is spoofed or leaked.
RESERVED_HEADERS = frozenset({
    "host", "content-type", "content-length", "content-encoding", "transfer-encoding",
    "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-authorization",
    "proxy-connection", "user-agent", "traceparent", "tracestate", "forwarded",
    "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "cookie",
})
_RESERVED_PREFIXES = ("webhook-", "x-prm-", "svix-")

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000,
                                       pattern=r"^[hH][tT][tT][pP][sS]?://[^\s]+$")]
Description = Annotated[str, StringConstraints(max_length=500)]
EventTypeFilter = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                   max_length=200, pattern=FILTER_PATTERN)]
HeaderValue = Annotated[str, StringConstraints(min_length=1, max_length=1000,
                                               pattern=r"^[\x20-\x7e]+$")]

_FILTERS: Any = Field(
    default_factory=list, max_length=MAX_FILTERS,
    description="Which events the endpoint receives, by CloudEvents type (what the payload's "
    "`type` says, e.g. `prm.deal.registered.v1`). `*` is one segment, or the rest when it "
    "ends the filter; `prm.` may be left out; a filter without the version matches every "
    "version: `deal.*`, `prm.deal.*` and `deal.registered` all match "
    "`prm.deal.registered.v1`. Empty: every event the key may receive.")
_HEADERS: Any = Field(
    default_factory=dict, max_length=MAX_HEADERS,
    description=f"Up to {MAX_HEADERS} headers sent with every delivery (e.g. an "
    "authorisation token of the receiver). `webhook-*`, `x-prm-*`, hop-by-hop and "
    "transport headers are refused.")
_RATE = Field(default=None, ge=1, le=MAX_RATE_LIMIT,
              description="At most this many deliveries started per second; none: no limit "
              "beyond the service's per-endpoint concurrency.")
_ORDERED = Field(default=False, description="Deliver each aggregate's events (one deal, one "
                 "partner) in order: a later one waits until the earlier one succeeded or "
                 "finally failed.")


def _filters(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    seen: dict[str, None] = {}
    for pattern in value:
        seen.setdefault(normalise(pattern), None)
    return list(seen)


def _headers(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    lowered: set[str] = set()
    for name in value:
        low = name.lower()
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a header name")
        if low in RESERVED_HEADERS or low.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"the header {name!r} is reserved")
        if low in lowered:
            raise ValueError(f"the header {name!r} is given twice")
        lowered.add(low)
    return value


_EXAMPLE_IN: dict[str, Any] = {
    "url": "https://crm.partner.example/hooks/prm", "description": "Deals into our CRM",
    "event_types": ["deal.*", "prm.partner.tier_changed"],
    "headers": {"X-Api-Token": "receiver-token-123"}, "rate_limit": 50, "ordered": True}


class WebhookEndpointIn(BaseModel):
    """Where to deliver which events. A partner key's endpoint receives only its own org's
    events; a vendor key's receives every org's."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE_IN]})

    url: Url = Field(description="HTTPS URL the events are POSTed to. Hosts resolving to "
                     "loopback, private, link-local, carrier-NAT, multicast or cloud metadata "
                     "addresses are refused, when saved and on every delivery.")
    description: Description = ""
    event_types: list[EventTypeFilter] = _FILTERS
    headers: dict[str, HeaderValue] = _HEADERS
    rate_limit: StrictInt | None = _RATE
    ordered: StrictBool = _ORDERED
    enabled: StrictBool = True

    _f = field_validator("event_types")(_filters)
    _h = field_validator("headers")(_headers)


class WebhookEndpointPatch(BaseModel):
    """Only the fields sent change. Enabling a disabled endpoint clears why it was disabled;
    its deliveries still pending go out, failed ones can be recovered."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"event_types": ["deal.*"], "enabled": True}]})

    url: Url | None = None
    description: Description | None = None
    event_types: list[EventTypeFilter] | None = Field(default=None, max_length=MAX_FILTERS)
    headers: dict[str, HeaderValue] | None = Field(default=None, max_length=MAX_HEADERS)
    rate_limit: StrictInt | None = Field(default=None, ge=1, le=MAX_RATE_LIMIT)
    ordered: StrictBool | None = None
    enabled: StrictBool | None = None

    _f = field_validator("event_types")(_filters)
    _h = field_validator("headers")(_headers)


_EXAMPLE_OUT: dict[str, Any] = {
    "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
    "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "partner_name": "Acme Cloud GmbH",
    "url": "https://crm.partner.example/hooks/prm", "description": "Deals into our CRM",
    "event_types": ["prm.deal.*", "prm.partner.tier_changed"],
    "headers": {"X-Api-Token": "receiver-token-123"}, "rate_limit": 50, "ordered": True,
    "enabled": True, "disabled_reason": "gone", "failing_since": "2026-11-22T09:30:00Z",
    "version": 1, "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"}


class WebhookEndpointOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_OUT]})

    id: uuid.UUID
    partner_id: uuid.UUID | None = Field(default=None, description="The partner org whose "
                                         "events it receives; none for a vendor endpoint")
    partner_name: str | None = Field(default=None, description="That partner org's name, "
                                     "from the partner directory; none for a vendor endpoint "
                                     "or a partner not known here yet")
    url: str
    description: str
    event_types: list[str]
    headers: dict[str, str]
    rate_limit: int | None = None
    ordered: bool
    enabled: bool
    disabled_reason: str | None = Field(default=None, description="Why the service disabled "
                                        "it: gone (410) or failing (for days)")
    failing_since: dt.datetime | None = Field(default=None, description="Since when every "
                                              "delivery failed; none while it succeeds")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> "WebhookEndpointOut":
        return cls.model_validate(row, from_attributes=True)


class WebhookEndpointCreated(WebhookEndpointOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_EXAMPLE_OUT, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]})

    secret: str = Field(description="The signing secret (`whsec_` + base64). Shown only now: "
                        "keep it to verify the `webhook-signature` header.")


class WebhookSecretRotation(BaseModel):
    """A new signing secret; the old one keeps signing for the overlap."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"overlap_hours": 24}]})

    overlap_hours: StrictInt = Field(default=24, ge=0, le=MAX_OVERLAP_HOURS,
                               description="How long the old secret still signs, beside the "
                               "new one (two signatures in `webhook-signature`)")


class WebhookSecretRotated(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "previous_expires_at": "2026-11-23T09:30:00Z", "version": 2}]})

    secret: str = Field(description="The new signing secret, shown only now.")
    previous_expires_at: dt.datetime = Field(description="When the previous secret stops "
                                             "signing")
    version: int


class WebhookRecovery(BaseModel):
    """Sends again every failed delivery of the endpoint since a time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"since": "2026-11-22T00:00:00Z"}]})

    since: IsoDateTime = Field(description="Deliveries created at or after this time "
                               "(RFC 3339)")

    @field_validator("since")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. Z)")
        return value


class WebhookRecovered(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"recovered": 12}]})

    recovered: int = Field(description="How many failed deliveries are due again")


class WebhookEndpointStats(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "pending": 3, "succeeded": 1200, "failed": 4, "attempts_24h": 310,
        "failed_attempts_24h": 12, "average_latency_ms_24h": 182}]})

    pending: int
    succeeded: int
    failed: int
    attempts_24h: int = Field(description="Attempts in the last 24 hours")
    failed_attempts_24h: int
    average_latency_ms_24h: int | None = Field(default=None, description="None without "
                                               "attempts")
