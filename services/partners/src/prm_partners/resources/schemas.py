"""What the resource library's routes take and answer."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from prm_partners.partners.schemas import PartnerType
from prm_platform.types import CountryCode, HttpsUrl, LanguageTag, Name

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Description = Annotated[str, StringConstraints(max_length=5000)]
MAX_VARIANTS = 50

_ID = "0193c1d4-0000-7000-8000-0000000000e1"
_FILE = "0193c1d4-0000-7000-8000-0000000000f1"


class EnablementResourceKind(StrEnum):
    document = "document"
    video = "video"
    link = "link"
    sales_tool = "sales_tool"


class EnablementResourceStatus(StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


class EnablementAudienceRole(StrEnum):
    """The partner user roles an audience may name (``PARTNER_ROLES``)."""

    partner_admin = "partner_admin"
    partner_sales = "partner_sales"
    partner_marketing = "partner_marketing"
    partner_finance = "partner_finance"


class EnablementUseKind(StrEnum):
    view = "view"
    download = "download"


class EnablementAudience(BaseModel):
    """Who a resource is for: each list given must hold; an empty one admits anyone."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "roles": ["partner_sales"], "tiers": ["Gold"], "partner_types": ["reseller"],
        "countries": ["DE", "AT"], "certifications": ["SEC-101"]}]})

    roles: list[EnablementAudienceRole] = Field(default_factory=list, max_length=10)
    tiers: list[Label] = Field(default_factory=list, max_length=50)
    partner_types: list[PartnerType] = Field(default_factory=list, max_length=20)
    countries: list[CountryCode] = Field(default_factory=list, max_length=250)
    certifications: list[Label] = Field(default_factory=list, max_length=50,
                                        description="Certification type codes, all held "
                                        "and active")


class EnablementVariantIn(BaseModel):
    """One language of a resource: a file uploaded to the resource (``file_id``) or an https
    URL hosted elsewhere (videos, links), never both."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "language": "de", "title": "Produktübersicht", "description": "Zwei Seiten.",
        "file_id": _FILE}]})

    language: LanguageTag
    title: Name
    description: Description | None = None
    file_id: uuid.UUID | None = None
    url: HttpsUrl | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnablementVariantIn:
        if (self.file_id is None) == (self.url is None):
            raise ValueError("a variant has either a file_id or a url")
        return self


class EnablementResourceIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "document", "default_language": "en",
        "audience": {"roles": ["partner_sales"], "tiers": ["Gold"]},
        "variants": [{"language": "en", "title": "Product overview",
                      "url": "https://cdn.vendor.example/overview.pdf"}]}]})

    kind: EnablementResourceKind
    default_language: LanguageTag
    audience: EnablementAudience = Field(default_factory=EnablementAudience)
    variants: list[EnablementVariantIn] = Field(min_length=1, max_length=MAX_VARIANTS)


class EnablementResourcePatch(BaseModel):
    """A JSON merge patch of the draft: lists (variants, audience) replaced whole."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"audience": {"tiers": []}}]})

    default_language: LanguageTag | None = None
    audience: EnablementAudience | None = None
    variants: list[EnablementVariantIn] | None = Field(default=None, min_length=1,
                                                       max_length=MAX_VARIANTS)


class EnablementFileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": _FILE, "resource_id": _ID, "filename": "overview.pdf",
        "content_type": "application/pdf", "size": 52311,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "created_at": "2026-12-01T09:00:00Z"}]})

    id: uuid.UUID
    resource_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime


class EnablementVariantOut(BaseModel):
    language: str
    title: str
    description: str | None
    file_id: uuid.UUID | None
    url: str | None


class EnablementResourceOut(BaseModel):
    """A resource in one language: the caller's (``Accept-Language`` or ``language=``), else
    its primary subtag's, else the resource's default language (``fallback: true``). Vendor
    keys see the draft with every variant; partners the newest published version."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, "kind": "document", "status": "published", "language": "de",
        "fallback": False, "title": "Produktübersicht", "description": "Zwei Seiten.",
        "file_id": _FILE, "url": None, "default_language": "en", "languages": ["de", "en"],
        "audience": {"roles": [], "tiers": ["Gold"], "partner_types": [], "countries": [],
                     "certifications": []},
        "variants": None, "published_version": 2, "unpublished_changes": False,
        "version": 4, "created_at": "2026-12-01T09:00:00Z",
        "updated_at": "2026-12-02T09:00:00Z"}]})

    id: uuid.UUID
    kind: EnablementResourceKind
    status: EnablementResourceStatus
    language: str = Field(description="The language of title, description and file")
    fallback: bool = Field(description="True when no variant is in the language asked for: "
                           "this is the default language's")
    title: str
    description: str | None
    file_id: uuid.UUID | None = None
    url: str | None = None
    default_language: str
    languages: list[str]
    audience: EnablementAudience
    variants: list[EnablementVariantOut] | None = Field(
        default=None, description="Every variant of the draft (vendor keys only)")
    published_version: int | None
    unpublished_changes: bool | None = Field(description="Whether the draft differs from "
                                             "the newest published version (vendor keys)")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class EnablementLinkOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "url": "/v1/enablement-downloads/eyJyIjoiMDE5M2MxZDQifQ.c2lnbmF0dXJl",
        "expires_at": "2026-12-02T09:15:00Z", "resource_id": _ID, "resource_version": 2,
        "language": "de", "fallback": False}]})

    url: str
    expires_at: dt.datetime
    resource_id: uuid.UUID
    resource_version: int
    language: str
    fallback: bool


class EnablementResourceUseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1d4-0000-7000-8000-0000000000a1", "resource_id": _ID,
        "resource_version": 2, "language": "de", "kind": "download",
        "partner_id": "0193c1c2-0000-7000-8000-000000000001",
        "contact_id": "0193c1c3-0000-7000-8000-000000000001",
        "used_at": "2026-12-02T09:01:00Z"}]})

    id: uuid.UUID
    resource_id: uuid.UUID
    resource_version: int
    language: str
    kind: EnablementUseKind
    partner_id: uuid.UUID
    contact_id: uuid.UUID | None
    used_at: dt.datetime


class EnablementResourceKpi(BaseModel):
    resource_id: uuid.UUID
    title: str = Field(description="The title in the default language of the newest "
                       "published version.")
    status: EnablementResourceStatus
    first_published_at: dt.datetime = Field(description="When version 1 was published.")
    uses: int = Field(description="Views and downloads.")
    views: int
    downloads: int
    people: int = Field(description="Distinct callers (portal users or partner keys) with a "
                        "use; an erased contact's uses count for no one.")
    partners: int = Field(description="Distinct partners with a use.")
    eligible_partners: int = Field(description=(
        "Active partners the published audience admits now (tier, type, country, "
        "certifications held; roles aside, as a partner key sees); 0 once retired."))
    adopting_partners: int = Field(description="Of the eligible partners, those with a use.")
    adoption: Decimal | None = Field(default=None, description=(
        "adopting_partners / eligible_partners, 4 decimals (half even); null without "
        "eligible partners."))
    seconds_to_first_use: int | None = Field(default=None, description=(
        "The first use's used_at − first_published_at (whole seconds); null without uses."))


class EnablementPartnerKpi(BaseModel):
    partner_id: uuid.UUID
    partner_name: str
    resources_used: int = Field(description="Distinct resources the partner used.")
    uses: int
    first_used_at: dt.datetime
    seconds_to_first_use: int = Field(description=(
        "first_used_at − the partner's activated_at (its created_at if never activated), "
        "whole seconds; negative when it used the library while onboarding."))


class EnablementKpiTotal(BaseModel):
    resources: int = Field(description="Resources in the report.")
    resources_used: int = Field(description="Of them, those with a use.")
    uses: int
    views: int
    downloads: int
    people: int
    partners: int


class EnablementKpisOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "partner_id": None,
        "resources": [{
            "resource_id": _ID, "title": "Partner playbook", "status": "published",
            "first_published_at": "2026-12-01T09:00:00Z", "uses": 3, "views": 2,
            "downloads": 1, "people": 2, "partners": 1, "eligible_partners": 4,
            "adopting_partners": 1, "adoption": "0.2500", "seconds_to_first_use": 3600}],
        "partners": [{
            "partner_id": "0193c1c2-0000-7000-8000-000000000001",
            "partner_name": "Acme Reseller", "resources_used": 1, "uses": 3,
            "first_used_at": "2026-12-01T10:00:00Z", "seconds_to_first_use": 86400}],
        "total": {"resources": 1, "resources_used": 1, "uses": 3, "views": 2,
                  "downloads": 1, "people": 2, "partners": 1}}]})

    partner_id: uuid.UUID | None = Field(default=None, description=(
        "The partner counted; null: the whole programme."))
    resources: list[EnablementResourceKpi] = Field(description=(
        "Every resource ever published (a partner caller: those its audience admits now), "
        "in creation order."))
    partners: list[EnablementPartnerKpi] = Field(description=(
        "Each partner with a use of those resources, by name."))
    total: EnablementKpiTotal
