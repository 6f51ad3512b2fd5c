"""The tables lists are read from with the list grammar (the others are read as SQL text)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from prm_portal.db import Base

_TS = sa.TIMESTAMP(timezone=True)

notifications = sa.Table(
    "notifications", Base.metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("event_id", sa.Uuid(), nullable=False),
    sa.Column("audience", sa.Text(), nullable=False),
    sa.Column("partner_id", sa.Uuid()),
    sa.Column("scope", sa.Text(), nullable=False),
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("data", JSONB(), nullable=False),
    sa.Column("subject_type", sa.Text(), nullable=False),
    sa.Column("subject_id", sa.Uuid(), nullable=False),
    sa.Column("occurred_at", _TS, nullable=False),
    sa.Column("xid", sa.Text(), nullable=False),  # xid8, read as text
    sa.Column("seq", sa.BigInteger(), nullable=False),
)

notification_marks = sa.Table(
    "notification_marks", Base.metadata,
    sa.Column("notification_id", sa.Uuid(), sa.ForeignKey("notifications.id",
                                                          ondelete="CASCADE"),
              primary_key=True),
    sa.Column("subject", sa.Text(), primary_key=True),
    sa.Column("read_at", _TS),
    sa.Column("dismissed_at", _TS),
)

search_entries = sa.Table(
    "search_entries", Base.metadata,
    sa.Column("kind", sa.Text(), primary_key=True),
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("partner_id", sa.Uuid()),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("subtitle", sa.Text(), nullable=False),
    sa.Column("status", sa.Text()),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("search_text", sa.Text(), sa.Computed("prm_fold(title || ' ' || subtitle)")),
)
