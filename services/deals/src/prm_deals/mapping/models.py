import datetime as dt
import uuid

from sqlalchemy import (
    TIMESTAMP,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base


class MappedAccount(Base):
    """One account of one side's population (the vendor's, or a partner's), as uploaded.

    A change of what identifies it (name, domain, country) or its removal ends the row
    (``removed_at``) and a change starts a new one: what a side sees counted of its own
    accounts follows its changes only once they settled (see ``reads.py``), so that no
    upload of a guess, nor the removal or renaming of an account, shows at once in a count."""

    __tablename__ = "mapped_accounts"
    __table_args__ = (
        Index("uq_mapped_accounts_owner", "owner", "population", "crm_id", unique=True,
              postgresql_where=text("removed_at IS NULL")),
        Index("ix_mapped_accounts_owner_population_id", "owner", "population", "id"),
        Index("ix_mapped_accounts_owner_id", "owner", "id"),
        # Looked up right after each upload writes: no pending list to scan (fastupdate off).
        Index("ix_mapped_accounts_keys", "keys", postgresql_using="gin",
              postgresql_with={"fastupdate": "off"}),
        Index("ix_mapped_accounts_removed_at", "removed_at",
              postgresql_where=text("removed_at IS NOT NULL")),
        CheckConstraint("population IN ('customers', 'opportunities', 'prospects')",
                        name="population"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # 'vendor', or the partner's id as text.
    owner: Mapped[str] = mapped_column(String(36))
    population: Mapped[str] = mapped_column(String(20))
    crm_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(253))
    country: Mapped[str | None] = mapped_column(String(2))
    name_key: Mapped[str] = mapped_column(String(200))
    domain_key: Mapped[str | None] = mapped_column(String(253))
    # The matcher's blocking keys, and the domain's as ``d:<key>``.
    keys: Mapped[list[str]] = mapped_column(ARRAY(String(300)))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    removed_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))


class MappingPartnership(Base):
    """The vendor and one partner mapping accounts: active once both opted in; each side's
    sharing level per population of its own."""

    __tablename__ = "mapping_partnerships"

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    vendor_opted_in_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    partner_opted_in_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    vendor_sharing: Mapped[dict[str, str]] = mapped_column(JSONB)
    partner_sharing: Mapped[dict[str, str]] = mapped_column(JSONB)
    # When the overlaps were last computed in full (on becoming active).
    mapped_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class AccountOverlap(Base):
    """A vendor account and a partner account the matcher finds to be one company."""

    __tablename__ = "account_overlaps"
    __table_args__ = (
        UniqueConstraint("vendor_account_id", "partner_account_id",
                         name="uq_account_overlaps_vendor_account_id"),
        Index("ix_account_overlaps_partner_account_id", "partner_account_id"),
        Index("ix_account_overlaps_partner_id_id", "partner_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    vendor_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mapped_accounts.id", ondelete="CASCADE"))
    partner_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mapped_accounts.id", ondelete="CASCADE"))
    partner_id: Mapped[uuid.UUID] = mapped_column()
    score: Mapped[float] = mapped_column(Float)
    basis: Mapped[str] = mapped_column(String(40))
