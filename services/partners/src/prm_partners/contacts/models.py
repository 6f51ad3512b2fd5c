import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Computed, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base


class Contact(Base):
    """A person at a partner. Erasure blanks the personal data and keeps the row as a
    tombstone, so the certifications and signatures that name it still hold together. Deletion
    does the same and marks it ``deleted_at``: the row is then seen only by the change feed
    (``updated_since``), which tells a synced CRM that the contact is gone."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_partner_id_id", "partner_id", "id"),
        Index("uq_contacts_partner_id_email", "partner_id", text("lower(email)"), unique=True,
              postgresql_where=text("email IS NOT NULL")),
        # The list grammar's filters, ranges, sorts, change feed and search.
        Index("ix_contacts_roles", "roles", postgresql_using="gin"),
        Index("ix_contacts_sort_name_id", "sort_name", "id"),
        Index("ix_contacts_created_at", "created_at"),
        Index("ix_contacts_updated_at_id", "updated_at", "id"),
        Index("ix_contacts_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    job_title: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    erased_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # The name's order, erased contacts first (what `sort=name` pages by).
    sort_name: Mapped[str] = mapped_column(
        Text, Computed("coalesce(name, '')", persisted=True))
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(coalesce(name, '') || ' ' || coalesce(email, ''))",
                       persisted=True))


class ContactAuditEntry(Base):
    """Who did what to a contact's personal data, and when. Field names only, never values:
    the trail outlives an erasure without keeping what was erased."""

    __tablename__ = "contact_audit"
    __table_args__ = (Index("ix_contact_audit_contact_id_id", "contact_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Not a foreign key: the trail of a deleted contact stays.
    contact_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    detail: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
