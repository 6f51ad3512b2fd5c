import datetime as dt
import uuid

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base


class DirectAccount(Base):
    """A named account of the vendor's direct sales (written through ``accounts.service``'s
    statements; mapped here so that migrations and models are checked against each other)."""

    __tablename__ = "direct_accounts"
    __table_args__ = (
        Index("ix_direct_accounts_domain_key", "domain_key",
              postgresql_where=text("domain_key IS NOT NULL")),
        # The list grammar's sorts, filters, change feed and search (0015).
        Index("ix_direct_accounts_name_id", "name", "id"),
        Index("ix_direct_accounts_updated_at_id", "updated_at", "id"),
        Index("ix_direct_accounts_created_at", "created_at"),
        Index("ix_direct_accounts_owner", "owner", postgresql_where=text("owner IS NOT NULL")),
        Index("ix_direct_accounts_country", "country",
              postgresql_where=text("country IS NOT NULL")),
        Index("ix_direct_accounts_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(253))
    country: Mapped[str | None] = mapped_column(String(2))
    owner: Mapped[str | None] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(ARRAY(String(200)), server_default="{}")
    domain_key: Mapped[str | None] = mapped_column(String(253))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(name || ' ' || coalesce(domain, ''))", persisted=True))


class DirectAccountName(Base):
    """One key an account answers to: its name's, or one of its aliases'."""

    __tablename__ = "direct_account_names"
    __table_args__ = (
        Index("ix_direct_account_names_blocks", "blocks", postgresql_using="gin",
              postgresql_with={"fastupdate": "off"}),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("direct_accounts.id", ondelete="CASCADE"), primary_key=True)
    name_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    alias: Mapped[bool] = mapped_column(Boolean)
    core: Mapped[str] = mapped_column(String(200), server_default="")
    blocks: Mapped[list[str]] = mapped_column(ARRAY(String(220)), server_default="{}")
