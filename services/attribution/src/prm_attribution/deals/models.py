import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    Computed,
    Date,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class AttributedDeal(Base):
    """A deal as the deals' events told it: who registered it, for which customer, its amount
    and where it stands. Columns a later event lacks stay as an earlier one set them."""

    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_customer_domain", "customer_domain"),
        Index("ix_deals_status_closed_on", "status", "closed_on"),
        Index("ix_deals_partner_id", "partner_id", "deal_id"),
        # The attributed deals' filters, ranges, change feed and search (``results.listing``).
        Index("ix_deals_currency", "currency", "deal_id"),
        Index("ix_deals_deal_type", "deal_type", "deal_id"),
        Index("ix_deals_customer_country", "customer_country", "deal_id"),
        Index("ix_deals_amount", "amount"),
        Index("ix_deals_closed_on", "closed_on"),
        Index("ix_deals_registered_at", "registered_at"),
        Index("ix_deals_updated_at_id", "updated_at", "deal_id"),
        # The KPIs' registrations of a page's partners in a period, and their first win.
        Index("ix_deals_partner_registered", "partner_id", "registered_at",
              postgresql_include=["status"]),
        Index("ix_deals_partner_first_win", "partner_id", "closed_on",
              postgresql_where=text("status = 'won'")),
        Index("ix_deals_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]  # the registering partner
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_domain: Mapped[str | None] = mapped_column(String(253))
    customer_country: Mapped[str | None] = mapped_column(String(2))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(40))
    # Once approved (or won), the registration stays an approved one for the sourcing rule.
    approved: Mapped[bool] = mapped_column(Boolean)
    registered_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    # new, renewal or upsell: a customer's renewals and upsells make its lifetime value.
    deal_type: Mapped[str | None] = mapped_column(String(20))
    # The deal's own version from its events: older ones never overwrite newer data.
    version: Mapped[int] = mapped_column(Integer)
    # Increases whenever the deal's credits change (the version of prm.attribution.computed).
    attribution_revision: Mapped[int] = mapped_column(Integer)
    # When the deal or its credits last changed here (the attributed deals' change feed).
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # What a search looks in (prm_platform.listing): the customer's name and domain.
    search_text: Mapped[str] = mapped_column(Text, Computed(
        "prm_fold(coalesce(customer_name, '') || ' ' || coalesce(customer_domain, ''))",
        persisted=True))


# The data-driven models' history: the newest closed deals, read in order without sorting
# every closed deal (``results.service._HISTORY``; the predicate must stay the query's).
Index("ix_deals_closed_recent", AttributedDeal.closed_on.desc(), AttributedDeal.deal_id.desc(),
      postgresql_where=text("status IN ('won', 'lost') AND closed_on IS NOT NULL"))
