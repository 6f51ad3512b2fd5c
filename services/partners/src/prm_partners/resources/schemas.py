"""What the resource library's routes take and answer."""

from __future__ import annotations

import datetime as dt
import uuid
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
