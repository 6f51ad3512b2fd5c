"""What the marketplace routes take and answer."""

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    Tag,
    model_validator,
)

from prm_platform.money import Money
from prm_platform.types import DecimalText, IsoDate

OfferId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=200)]


class MarketplaceName(StrEnum):
    aws = "aws"
    azure = "azure"
    gcp = "gcp"


class OfferKind(StrEnum):
    """`aws_cppo` (an AWS channel partner private offer), `aws_resale_authorization` (the
    vendor's authorisation for the partner to resell on AWS), `azure_multiparty_private_offer`,
    `gcp_private_offer`."""

    aws_cppo = "aws_cppo"
    aws_resale_authorization = "aws_resale_authorization"
    azure_multiparty_private_offer = "azure_multiparty_private_offer"
    gcp_private_offer = "gcp_private_offer"


class OfferStatus(StrEnum):
    """The one lifecycle every marketplace's statuses map to."""

    draft = "draft"
    published = "published"
    accepted = "accepted"
    active = "active"
    expired = "expired"
    cancelled = "cancelled"
    replaced = "replaced"


class MarketplaceFee(BaseModel):
    """The marketplace's fee: a percentage of what the customer pays (a decimal string), or an
    amount in the offer's currency. One of the two."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"percent": "3.0"}, {"amount": {"amount": "450.00", "currency": "USD"}}]})

    percent: Annotated[DecimalText, Field(le=Decimal(100), max_digits=7,
                                          decimal_places=4)] | None = None
    amount: Money | None = None

    @model_validator(mode="after")
    def _one(self) -> "MarketplaceFee":
        if (self.percent is None) == (self.amount is None):
            raise ValueError("give the fee as a percent or as an amount, one of the two")
        return self


_OFFER_EXAMPLE: dict[str, Any] = {
    "deal_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "marketplace": "aws",
    "kind": "aws_cppo", "external_offer_id": "offer-3kd7ah2ktp4ag",
    "wholesale_price": {"amount": "100000.00", "currency": "USD"},
    "partner_markup": {"amount": "15000.00", "currency": "USD"},
    "marketplace_fee": {"percent": "3.0"}, "duration_months": 12,
    "win_deal_on_acceptance": True,
}


class _Terms(BaseModel):
    """Duration in months, or start and end dates (not both)."""

    duration_months: StrictInt | None = Field(default=None, ge=1, le=60)
    starts_on: IsoDate | None = None
    ends_on: IsoDate | None = None

    @model_validator(mode="after")
    def _dates(self) -> "_Terms":
        if self.starts_on and self.ends_on and self.ends_on <= self.starts_on:
            raise ValueError("ends_on must be after starts_on")
        return self


class OfferIn(_Terms):
    """A private offer for the customer of one of a partner's deal registrations: the partner
    is the deal's, the customer the deal's."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_OFFER_EXAMPLE]})

    deal_id: uuid.UUID
    partner_id: uuid.UUID | None = Field(default=None, description="Optional: if given, must "
                                         "be the deal's partner (the offer's partner is the "
                                         "deal's).")
    marketplace: MarketplaceName
    kind: OfferKind = Field(description="Must be one of the marketplace's kinds.")
    external_offer_id: OfferId | None = Field(default=None, description="The marketplace's "
                                              "offer id (unique per marketplace); marketplace "
                                              "events name the offer by it.")
    wholesale_price: Money = Field(description="What the vendor sells it to the partner for, "
                                   "in the deal's currency.")
    partner_markup: Money = Field(description="What the partner adds on top, same currency.")
    marketplace_fee: MarketplaceFee = Field(default_factory=lambda: MarketplaceFee(
        percent=Decimal(0)))
    win_deal_on_acceptance: StrictBool = Field(default=True, description="The customer's "
                                               "acceptance on the marketplace marks the deal "
                                               "won, for the vendor's net.")

    @model_validator(mode="after")
    def _some_term(self) -> "OfferIn":
        dated = self.starts_on is not None or self.ends_on is not None
        if self.duration_months is not None and dated:
            raise ValueError("give duration_months or starts_on and ends_on, not both")
        if dated and (self.starts_on is None or self.ends_on is None):
            raise ValueError("give both starts_on and ends_on")
        return self


class OfferPatch(_Terms):
    """A JSON merge patch of a draft or published offer: the fields given change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"partner_markup": {"amount": "12000.00", "currency": "USD"}}]})

    external_offer_id: OfferId | None = None
    wholesale_price: Money | None = None
    partner_markup: Money | None = None
    marketplace_fee: MarketplaceFee | None = None
    win_deal_on_acceptance: StrictBool | None = None


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "The customer chose a direct contract."}]})

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class OfferMoney(BaseModel):
    """The offer's money, each exact to the currency's minor unit: gross = wholesale + markup
    (what the customer pays); the fee falls on each share in proportion; vendor net + partner
    margin + fee = gross."""

    wholesale_price: Money
    partner_markup: Money
    gross: Money
    marketplace_fee: Money
    marketplace_fee_percent: str | None = Field(
        default=None, description="When the fee was given as a percentage of the gross")
    partner_margin: Money = Field(description="The markup less its share of the fee")
    vendor_net: Money = Field(description="The wholesale price less its share of the fee: "
                              "the amount a won deal carries")


class OfferOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **{k: v for k, v in _OFFER_EXAMPLE.items()
           if k not in ("wholesale_price", "partner_markup", "marketplace_fee")},
        "id": "0193c1e0-2b3c-7e3f-8a9b-0c1d2e3f4a5b",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "agreement_id": None,
        "customer": {"name": "Vandelay Industries Inc.", "domain": "vandelay.example",
                     "country": "US"},
        "money": {"wholesale_price": {"amount": "100000.00", "currency": "USD"},
                  "partner_markup": {"amount": "15000.00", "currency": "USD"},
                  "gross": {"amount": "115000.00", "currency": "USD"},
                  "marketplace_fee": {"amount": "3450.00", "currency": "USD"},
                  "marketplace_fee_percent": "3.0",
                  "partner_margin": {"amount": "14550.00", "currency": "USD"},
                  "vendor_net": {"amount": "97000.00", "currency": "USD"}},
        "starts_on": None, "ends_on": None, "marketplace_status": "DRAFT", "status": "draft",
        "accepted_at": None, "deal_won_at": None, "version": 1,
        "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z"}]})

    id: uuid.UUID
    deal_id: uuid.UUID
    partner_id: uuid.UUID
    marketplace: MarketplaceName
    kind: OfferKind
    external_offer_id: str | None = None
    agreement_id: str | None = Field(
        default=None, description="The marketplace's agreement, once accepted (AWS)")
    customer: dict[str, str] = Field(description="The deal's customer: name, domain, country")
    money: OfferMoney
    duration_months: int | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    marketplace_status: str = Field(description="The status in the marketplace's own words")
    status: OfferStatus
    win_deal_on_acceptance: bool
    accepted_at: dt.datetime | None = None
    deal_won_at: dt.datetime | None = Field(
        default=None, description="When the offer's acceptance marked its deal won")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ChangeSource(StrEnum):
    api = "api"
    event = "event"


class OfferChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1e1-2b3c-7e3f-8a9b-0c1d2e3f4a5b", "version": 3,
        "marketplace_status": "ACTIVE", "status": "active", "previous_status": "published",
        "source": "event", "event_id": "6f1c2d4e-aws-evt", "actor": "key:0193c1aa",
        "note": "Agreement Status Changed", "at": "2026-12-07T11:00:00Z"}]})

    id: uuid.UUID
    version: int = Field(description="The offer's version this change made")
    marketplace_status: str
    status: OfferStatus
    previous_status: OfferStatus | None = None
    source: ChangeSource
    event_id: str | None = Field(
        default=None, description="The marketplace event's id, for a change an event made")
    actor: str
    note: str | None = None
    at: dt.datetime


# The marketplaces' events, as their feeds shape them.


class AwsDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    offerId: OfferId | None = None  # noqa: N815 - the feed's own names
    agreementId: OfferId | None = None  # noqa: N815
    status: Annotated[str, StringConstraints(max_length=60)] | None = None


class AwsEventSource(StrEnum):
    """The EventBridge sources of AWS events: the intake acts on AWS Marketplace's."""

    aws = "aws"
    marketplace = "aws.marketplace"
    partner_central = "aws.partnercentral-selling"


class AwsEvent(BaseModel):
    """An Amazon EventBridge event of AWS Marketplace (`Agreement Status Changed`,
    `Offer Status Changed`) or AWS Partner Central (opportunities, engagements: recorded and
    ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: AwsEventSource
    id: OfferId
    detail_type: Annotated[str, StringConstraints(max_length=200)] = Field(alias="detail-type")
    time: str | None = None
    detail: AwsDetail


class AzureData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    offerId: OfferId | None = None  # noqa: N815
    state: Annotated[str, StringConstraints(max_length=60)] | None = None


class AzureEvent(BaseModel):
    """A multiparty private offer's state change, shaped as a CloudEvent
    (`type: PrivateOfferStateChanged`)."""

    model_config = ConfigDict(extra="ignore")

    source: Literal["azure"]
    id: OfferId
    type: Annotated[str, StringConstraints(max_length=200)]
    data: AzureData


class GcpEntitlement(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: OfferId | None = None
    offer: OfferId | None = Field(default=None, description="The private offer's id, or its "
                                  "resource name ending in it (`.../privateOffers/<id>`)")


class GcpEvent(BaseModel):
    """A Google Cloud Marketplace Procurement API message (`ENTITLEMENT_OFFER_ACCEPTED`,
    `ENTITLEMENT_ACTIVE`, ...) or a private offer's state (`eventType:
    PRIVATE_OFFER_STATE_CHANGED` with `state`)."""

    model_config = ConfigDict(extra="ignore")

    source: Literal["gcp"]
    eventId: OfferId  # noqa: N815
    eventType: Annotated[str, StringConstraints(max_length=200)]  # noqa: N815
    entitlement: GcpEntitlement = Field(default_factory=GcpEntitlement)
    state: Annotated[str, StringConstraints(max_length=60)] | None = None


def _marketplace_of(value: Any) -> str | None:
    """Which marketplace an event is from, by its `source` (AWS has several)."""
    source = value.get("source") if isinstance(value, dict) else getattr(value, "source", None)
    if not isinstance(source, str):
        return None
    return "aws" if source == "aws" or source.startswith("aws.") else source


MarketplaceEventIn = Annotated[
    Annotated[AwsEvent, Tag("aws")] | Annotated[AzureEvent, Tag("azure")]
    | Annotated[GcpEvent, Tag("gcp")], Discriminator(_marketplace_of)]


class EventOutcome(StrEnum):
    applied = "applied"
    unchanged = "unchanged"
    out_of_order = "out_of_order"
    ignored = "ignored"


class MarketplaceEventOut(BaseModel):
    """What came of a marketplace event. The same event again (by its id) is answered the same
    and changes nothing."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event_id": "6f1c2d4e-aws-evt", "marketplace": "aws", "outcome": "applied",
        "offer_id": "0193c1e0-2b3c-7e3f-8a9b-0c1d2e3f4a5b", "marketplace_status": "ACTIVE",
        "status": "active", "deal": {"id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
                                     "outcome": "won", "status": "won"},
        "duplicate": False}]})

    event_id: str
    marketplace: MarketplaceName
    outcome: EventOutcome = Field(
        description="`applied`: the offer's status changed; `unchanged`: it had that status; "
        "`out_of_order`: the offer is further along already (recorded, not applied); "
        "`ignored`: an event this intake does not act on")
    offer_id: uuid.UUID | None = None
    marketplace_status: str | None = None
    status: OfferStatus | None = None
    deal: dict[str, Any] | None = Field(default=None, description="What the acceptance did to "
                                        "the deal: `outcome` won, already_won, not_winnable "
                                        "(with the deal's `status`), or not_asked (the offer's "
                                        "`win_deal_on_acceptance` is off)")
    duplicate: bool = Field(default=False, description="This event id was received before: "
                            "its first answer, nothing done again")
