import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import TIMESTAMP, Boolean, Date, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class AttributedDeal(Base):
    """A deal as the deals' events told it: who registered it, for which customer, its amount
    and where it stands. Columns a later event lacks stay as an earlier one set them."""

    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_customer_domain", "customer_domain"),
                      Index("ix_deals_status_closed_on", "status", "closed_on"),
                      Index("ix_deals_partner_id", "partner_id", "deal_id"))

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
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


# The data-driven models' history: the newest closed deals, read in order without sorting
# every closed deal (``results.service._HISTORY``; the predicate must stay the query's).
Index("ix_deals_closed_recent", AttributedDeal.closed_on.desc(), AttributedDeal.deal_id.desc(),
      postgresql_where=text("status IN ('won', 'lost') AND closed_on IS NOT NULL"))
