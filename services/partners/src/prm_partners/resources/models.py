"""The enablement resource library's tables: resources (a draft and, once published, its
newest published version and audience), their published versions, their files and the uses
partners' people make of them."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    Computed,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base

_TS = TIMESTAMP(timezone=True)


class EnablementResource(Base):
    """A resource of the library: its draft (``content``: default language, audience,
    variants) and, once published, the newest published version's content (``published``)
    with its audience spread over columns, so that a partner's list is one indexed query."""

    __tablename__ = "enablement_resources"
    __table_args__ = (
        Index("ix_enablement_resources_kind_id", "kind", "id"),
        Index("ix_enablement_resources_status_id", "status", "id"),
        Index("ix_enablement_resources_updated_at_id", "updated_at", "id"),
        Index("ix_enablement_resources_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))  # draft, published, retired
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    published_version: Mapped[int | None] = mapped_column(Integer)
    # The published audience, folded (lower case; countries upper case); empty: anyone.
    audience_roles: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    audience_tiers: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    audience_partner_types: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    audience_countries: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    audience_certifications: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    # Every title of the published version (of the draft until one is published): what `q`
    # finds, so a partner never finds a resource by a draft's words.
    titles: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(titles)", persisted=True))


class EnablementResourceVersion(Base):
    """A published version of a resource: never changed; what a signed link names."""

    __tablename__ = "enablement_resource_versions"

    resource_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enablement_resources.id"),
                                                   primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[dt.datetime] = mapped_column(_TS)


class EnablementFile(Base):
    """A file of a resource's variant: its record here, its bytes in this row (``store``
    postgres) or in the S3-compatible store (``object_key``)."""

    __tablename__ = "enablement_files"
    __table_args__ = (Index("ix_enablement_files_resource_id_id", "resource_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    resource_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enablement_resources.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    store: Mapped[str] = mapped_column(String(10))
    object_key: Mapped[str | None] = mapped_column(String(300))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(_TS)


class EnablementResourceUse(Base):
    """A view or download of a resource by someone of a partner: the person (``contact_id``,
    a portal user matched to a contact of its org by e-mail; ``subject``, the caller) is
    personal data, taken away when the contact is erased."""

    __tablename__ = "enablement_resource_uses"
    __table_args__ = (
        Index("ix_enablement_resource_uses_resource_id_id", "resource_id", "id"),
        Index("ix_enablement_resource_uses_partner_id_id", "partner_id", "id"),
        Index("ix_enablement_resource_uses_contact_id_id", "contact_id", "id"),
        Index("ix_enablement_resource_uses_kind_id", "kind", "id"),
        Index("ix_enablement_resource_uses_language_id", "language", "id"),
        Index("ix_enablement_resource_uses_used_at_id", "used_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    resource_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enablement_resources.id"))
    resource_version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(35))
    kind: Mapped[str] = mapped_column(String(10))  # view, download
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    subject: Mapped[str | None] = mapped_column(String(200))
    used_at: Mapped[dt.datetime] = mapped_column(_TS)
