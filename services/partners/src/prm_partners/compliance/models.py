import datetime as dt
import uuid

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    Computed,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base


class CertificationType(Base):
    """A certification the programme recognises (SEC-101); ``required`` ones count towards
    compliance."""

    __tablename__ = "certification_types"
    # The list grammar's filters, ranges, sorts, change feed and search.
    __table_args__ = (
        Index("ix_certification_types_required_id", "required", "id"),
        Index("ix_certification_types_name_id", "name", "id"),
        Index("ix_certification_types_created_at", "created_at"),
        Index("ix_certification_types_updated_at_id", "updated_at", "id"),
        Index("ix_certification_types_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # How long a certification stays valid; None: it never expires.
    validity_months: Mapped[int | None] = mapped_column(Integer)
    required: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(code || ' ' || name)", persisted=True))


class Certification(Base):
    """A certification a partner (one of its contacts, usually) earned."""

    __tablename__ = "certifications"
    __table_args__ = (
        Index("ix_certifications_partner_id_id", "partner_id", "id"),
        Index("ix_certifications_partner_id_status_id", "partner_id", "status", "id"),
        Index("ix_certifications_contact_id", "contact_id",
              postgresql_where=text("contact_id IS NOT NULL")),
        # The expiry job's scan: only what is still active.
        Index("ix_certifications_active_expires_on", "expires_on",
              postgresql_where=text("status = 'active' AND expires_on IS NOT NULL")),
        Index("uq_certifications_partner_id_lms_record_id", "partner_id", "lms_record_id",
              unique=True, postgresql_where=text("lms_record_id IS NOT NULL")),
        # The list grammar's filters, ranges, sorts and change feed.
        Index("ix_certifications_partner_id_code_id", "partner_id", "code", "id"),
        Index("ix_certifications_type_id", "type_id"),
        Index("ix_certifications_partner_id_source_id", "partner_id", "source", "id"),
        Index("ix_certifications_earned_on_id", "earned_on", "id"),
        Index("ix_certifications_expires_on", "expires_on",
              postgresql_where=text("expires_on IS NOT NULL")),
        Index("ix_certifications_created_at", "created_at"),
        Index("ix_certifications_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("certification_types.id"))
    # The type's code (immutable), kept here for events and lists without a join.
    code: Mapped[str] = mapped_column(String(60))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    earned_on: Mapped[dt.date] = mapped_column(Date)
    # The last day it is valid; None: it never expires.
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10))
    lms_record_id: Mapped[str | None] = mapped_column(String(100))
    # When it stopped counting (expired or revoked), and why it was revoked.
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class Agreement(Base):
    """A programme agreement (reseller agreement, NDA); ``required`` ones count towards
    compliance. Its text changes by new versions, never in place."""

    __tablename__ = "agreements"
    # The list grammar's filters, ranges, sorts, change feed and search.
    __table_args__ = (
        Index("ix_agreements_required_id", "required", "id"),
        Index("ix_agreements_title_id", "title", "id"),
        Index("ix_agreements_created_at", "created_at"),
        Index("ix_agreements_updated_at_id", "updated_at", "id"),
        Index("ix_agreements_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    required: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(code || ' ' || title)", persisted=True))


class AgreementVersion(Base):
    __tablename__ = "agreement_versions"
    __table_args__ = (UniqueConstraint("agreement_id", "number",
                                       name="uq_agreement_versions_agreement_id_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agreements.id"))
    number: Mapped[int] = mapped_column(Integer)
    effective_on: Mapped[dt.date] = mapped_column(Date)
    term_months: Mapped[int | None] = mapped_column(Integer)
    document_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class AgreementSignature(Base):
    """A partner's signature of one version of an agreement. Never changed, except that an
    erased contact's name is blanked (``updated_at`` says when, for the change feed)."""

    __tablename__ = "agreement_signatures"
    __table_args__ = (
        # The version signed exists.
        ForeignKeyConstraint(["agreement_id", "agreement_version"],
                             ["agreement_versions.agreement_id", "agreement_versions.number"],
                             name="fk_agreement_signatures_agreement_version"),
        Index("ix_agreement_signatures_partner_id_id", "partner_id", "id"),
        Index("ix_agreement_signatures_signer_contact_id", "signer_contact_id",
              postgresql_where=text("signer_contact_id IS NOT NULL")),
        # The list grammar's filters, ranges, sorts and change feed.
        Index("ix_agreement_signatures_partner_id_code_id", "partner_id", "code", "id"),
        Index("ix_agreement_signatures_agreement_id", "agreement_id"),
        Index("ix_agreement_signatures_signed_on_id", "signed_on", "id"),
        Index("ix_agreement_signatures_expires_on", "expires_on",
              postgresql_where=text("expires_on IS NOT NULL")),
        Index("ix_agreement_signatures_created_at", "created_at"),
        Index("ix_agreement_signatures_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agreements.id"))
    code: Mapped[str] = mapped_column(String(60))
    agreement_version: Mapped[int] = mapped_column(Integer)
    signed_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    signer_contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    signer_name: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
