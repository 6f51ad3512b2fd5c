"""What the campaign routes take and answer."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from prm_deals.campaigns.rendering import BRAND_FIELDS
from prm_deals.leads.schemas import LeadContact
from prm_platform.types import (
    CountryCode,
    DomainName,
    EmailAddress,
    HttpsUrl,
    IsoDateTime,
    LanguageTag,
    Name,
)

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Template = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{8,32}$")]
MAX_ASSETS = 100
MAX_LINKS = 20
MAX_INTAKE = 1000


class MarketingCampaignStatus(StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


class CampaignAssetKind(StrEnum):
    email = "email"
    landing_page = "landing_page"
    social_post = "social_post"
    banner = "banner"


class CampaignEngagementKind(StrEnum):
    open = "open"
    click = "click"
    form_fill = "form_fill"
    conversion = "conversion"


class CampaignEngagementOutcome(StrEnum):
    recorded = "recorded"
    duplicate = "duplicate"
    error = "error"


class CampaignAudience(BaseModel):
    """Who may launch it: every list given must hold (an empty or absent one: anyone)."""

    model_config = ConfigDict(extra="forbid")

    tiers: list[Label] = Field(default_factory=list, max_length=20,
                               description="The partner's tier is one of these (e.g. Gold)")
    partner_types: list[Label] = Field(default_factory=list, max_length=20,
                                       description="Its type is one of these (reseller, msp...)")
    countries: list[CountryCode] = Field(default_factory=list, max_length=250,
                                         description="Its home country is one of these")
    certifications: list[Label] = Field(default_factory=list, max_length=20,
                                        description="It holds all of these, active")


class CampaignAsset(BaseModel):
    """One asset in one language: templates of merge fields (docs/campaigns.md)."""

    model_config = ConfigDict(extra="forbid")

    key: Key = Field(description="Names the asset across its languages (e.g. invite_email)")
    kind: CampaignAssetKind
    language: LanguageTag
    subject: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = Field(
        default=None, description="An email's subject, a post's or banner's headline (text)")
    html: Template | None = Field(default=None, description="The HTML body (values escaped)")
    text: Template | None = Field(default=None, description="The plain-text body (a social "
                                  "post's text, an email's text part)")

    @model_validator(mode="after")
    def _has_body(self) -> CampaignAsset:
        if self.html is None and self.text is None:
            raise ValueError("an asset has an html or a text body, or both")
        if self.kind is CampaignAssetKind.email and self.subject is None:
            raise ValueError("an email has a subject")
        return self


_EXAMPLE_ASSET: dict[str, Any] = {
    "key": "invite_email", "kind": "email", "language": "en",
    "subject": "{{ partner.name }} invites you: zero-trust in a day",
    "html": "<h1>{{ partner.name }}</h1><p>{{ partner.value_proposition }}</p>"
            "<a href=\"{{ links.trial }}\">Start your trial</a><p>{{ partner.phone }}</p>"}
_EXAMPLE: dict[str, Any] = {
    "name": "Zero-trust in a day", "description": "Q3 demand generation for gold partners",
    "audience": {"tiers": ["Gold"]}, "links": {"trial": "https://www.vendor.example/trial"},
    "default_language": "en", "assets": [_EXAMPLE_ASSET]}


class MarketingCampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    audience: CampaignAudience = Field(default_factory=CampaignAudience)
    links: dict[Key, HttpsUrl] = Field(default_factory=dict, max_length=MAX_LINKS,
                                       description="Named link targets; templates use "
                                       "`{{ links.<key> }}`, rendered tracked per launch")
    default_language: LanguageTag = Field(description="The language an asset falls back to "
                                          "when it has no variant in the launch's language")
    assets: list[CampaignAsset] = Field(default_factory=list, max_length=MAX_ASSETS)


class MarketingCampaignPatch(BaseModel):
    """A JSON merge patch of the draft: what is given replaces what was (lists whole)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"audience": {"tiers": ["Gold", "Platinum"]}}]})

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    audience: CampaignAudience | None = None
    links: dict[Key, HttpsUrl] | None = Field(default=None, max_length=MAX_LINKS)
    default_language: LanguageTag | None = None
    assets: list[CampaignAsset] | None = Field(default=None, max_length=MAX_ASSETS)


class CampaignAvailability(BaseModel):
    available: bool
    unavailable_because: list[str] = Field(description="What of the audience the partner does "
                                           "not meet")


class MarketingCampaignOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    status: MarketingCampaignStatus
    audience: CampaignAudience
    links: dict[str, str]
    default_language: str
    languages: list[str] = Field(description="The languages of its assets")
    assets: list[CampaignAsset] = Field(description="The draft's assets (the published "
                                        "version's for partner keys)")
    brand_fields: list[str] = Field(description="The brand profile fields its templates use: "
                                    "a partner's must all be filled to launch it")
    published_version: int | None
    unpublished_changes: bool = Field(description="The draft differs from the newest "
                                      "published version")
    availability: CampaignAvailability | None = Field(description="For a partner key: "
                                                      "whether it may launch it")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class MarketingCampaignVersionOut(BaseModel):
    campaign_id: uuid.UUID
    number: int
    name: str
    content: dict[str, Any]
    published_by: str
    published_at: dt.datetime


_BRAND_EXAMPLE: dict[str, Any] = {
    "name": "Northwind Security", "logo_url": "https://northwind.example/logo.png",
    "website": "https://northwind.example", "email": "hello@northwind.example",
    "phone": "+44 20 7946 0000", "address": "1 Harbour St, London",
    "value_proposition": "Managed zero-trust for mid-size firms"}


class BrandFields(BaseModel):
    """The partner's brand: every field optional until a campaign needs it."""

    name: Name | None = Field(default=None, description="The name shown to customers")
    logo_url: HttpsUrl | None = None
    website: HttpsUrl | None = None
    email: EmailAddress | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3,
                                            max_length=40)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=500)] | None = None
    value_proposition: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                        max_length=1000)] | None = None
    tagline: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=200)] | None = None
    booking_url: HttpsUrl | None = None


assert tuple(BrandFields.model_fields) == BRAND_FIELDS


class BrandProfileIn(BrandFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_BRAND_EXAMPLE]})


class BrandProfileOut(BrandFields):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_BRAND_EXAMPLE, "partner_id": "0193c1d0-7a11-7b00-8000-00000000b001",
        "filled": ["name", "logo_url", "website", "email", "phone", "address",
                   "value_proposition"], "missing": ["tagline", "booking_url"],
        "version": 3, "updated_at": "2026-12-07T09:00:00Z"}]})

    partner_id: uuid.UUID
    filled: list[str] = Field(description="The fields given")
    missing: list[str] = Field(description="The fields not given")
    version: int
    updated_at: dt.datetime | None


class CampaignLaunchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"campaign_id": "0193c1d0-7a11-7b00-8000-00000000c001", "language": "de"}]})

    campaign_id: uuid.UUID
    language: LanguageTag | None = Field(default=None, description="The language to launch "
                                         "in (the campaign's default when left out)")
    partner_id: uuid.UUID | None = Field(default=None, description="Vendor keys: the partner "
                                         "it is launched for. Partner keys leave it out")
    mdf_request_id: uuid.UUID | None = Field(default=None, description="An MDF fund request "
                                             "of the partner that pays for it (approved or "
                                             "submitted); one launch per request")


class RenderedCampaignAsset(BaseModel):
    key: str
    kind: CampaignAssetKind
    language: str = Field(description="The variant rendered (the launch's language or the "
                          "campaign's default)")
    subject: str | None
    html: str | None
    text: str | None
    pdf: str = Field(description="Where its PDF for print is")


class CampaignEngagementCounts(BaseModel):
    open: int = 0
    click: int = 0
    form_fill: int = 0
    conversion: int = 0


class CampaignLaunchOut(BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_version: int
    partner_id: uuid.UUID
    language: str
    ref: str = Field(description="The tracking code every link carries (`prm_ref`)")
    mdf_request_id: uuid.UUID | None
    links: dict[str, str] = Field(description="The tracked links, by key")
    assets: list[RenderedCampaignAsset]
    engagement: CampaignEngagementCounts
    launched_by: str
    launched_at: dt.datetime


class CampaignEngagementCompany(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: DomainName
    name: Name | None = None
    country: CountryCode | None = None


class CampaignEngagementIn(BaseModel):
    """An engagement with a launch, named by its id or by the `ref` of its links."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "ref": "K3V9Q2XH7M4T", "external_id": "evt-20261207-000123", "kind": "form_fill",
        "occurred_at": "2026-12-07T09:30:00Z", "asset": "invite_email", "link": "trial",
        "company": {"domain": "fabrikam.example", "name": "Fabrikam", "country": "GB"},
        "contact": {"name": "Dana Wu", "email": "dana@fabrikam.example"}}]})

    launch_id: uuid.UUID | None = None
    ref: Ref | None = None
    external_id: ExternalId = Field(description="The reporting tool's id of the event: the "
                                    "same id for the same launch is recorded once")
    kind: CampaignEngagementKind
    occurred_at: IsoDateTime
    asset: Key | None = None
    link: Key | None = None
    company: CampaignEngagementCompany | None = Field(default=None, description="Who engaged, when "
                                              "known; a form fill needs its name, domain and "
                                              "country (it becomes a lead)")
    contact: LeadContact | None = Field(default=None, description="A form fill's person: "
                                        "kept on its lead only (personal data)")

    @model_validator(mode="after")
    def _names_launch(self) -> CampaignEngagementIn:
        if (self.launch_id is None) == (self.ref is None):
            raise ValueError("name the launch by launch_id or by ref, not both")
        if self.kind is CampaignEngagementKind.form_fill and (
                self.company is None or self.company.name is None
                or self.company.country is None):
            raise ValueError("a form fill names its company (name, domain and country)")
        return self


class CampaignEngagementOut(BaseModel):
    id: uuid.UUID
    launch_id: uuid.UUID
    campaign_id: uuid.UUID
    partner_id: uuid.UUID
    external_id: str
    kind: CampaignEngagementKind
    occurred_at: dt.datetime
    asset: str | None
    link: str | None
    company: CampaignEngagementCompany | None
    lead_id: uuid.UUID | None = Field(description="The lead a form fill became")
    received_at: dt.datetime


class CampaignEngagementReceipt(BaseModel):
    outcome: CampaignEngagementOutcome
    engagement: CampaignEngagementOut | None = None
    problem: dict[str, Any] | None = None


class CampaignIntakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_INTAKE,
        description=f"Up to {MAX_INTAKE} engagements, each as `POST /v1/campaign-engagements` "
        "takes it (with `ref`); each recorded on its own",
        json_schema_extra={"items": {"$ref": "#/components/schemas/CampaignEngagementIn"}})


class CampaignIntakeOut(BaseModel):
    items: list[CampaignEngagementReceipt]
