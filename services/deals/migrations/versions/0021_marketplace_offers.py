"""Cloud marketplace private offers made through partners: the offers (with their money in
minor units and both the marketplace's status and the lifecycle's), each status change, and the
marketplace events received, each once.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision, down_revision = "0021", "0020"

_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "marketplace_offers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), sa.ForeignKey(
            "deals.id", name="fk_marketplace_offers_deal_id_deals"), nullable=False),
        sa.Column("marketplace", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("external_offer_id", sa.String(200)),
        sa.Column("agreement_id", sa.String(200)),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("customer_domain", sa.String(253), nullable=False),
        sa.Column("customer_country", sa.String(2), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("wholesale_minor", sa.BigInteger(), nullable=False),
        sa.Column("markup_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_percent", sa.Numeric(7, 4)),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("duration_months", sa.Integer()),
        sa.Column("starts_on", sa.Date()),
        sa.Column("ends_on", sa.Date()),
        sa.Column("marketplace_status", sa.String(60), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("win_deal_on_acceptance", sa.Boolean(), nullable=False),
        sa.Column("accepted_at", _TS),
        sa.Column("deal_won_at", _TS),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("marketplace", "external_offer_id",
                            name="uq_marketplace_offers_marketplace"),
        sa.CheckConstraint("marketplace IN ('aws', 'azure', 'gcp')",
                           name="ck_marketplace_offers_marketplace"),
        sa.CheckConstraint("status IN ('draft', 'published', 'accepted', 'active', 'expired', "
                           "'cancelled', 'replaced')", name="ck_marketplace_offers_status"),
        sa.CheckConstraint("wholesale_minor >= 0 AND markup_minor >= 0 AND fee_minor >= 0 "
                           "AND fee_minor <= wholesale_minor + markup_minor",
                           name="ck_marketplace_offers_money"),
    )
    for name, columns in (("partner_id_id", ["partner_id", "id"]),
                          ("deal_id_id", ["deal_id", "id"]),
                          ("status_id", ["status", "id"]),
                          ("kind_id", ["kind", "id"]),
                          ("marketplace_id", ["marketplace", "id"]),
                          ("created_at_id", ["created_at", "id"]),
                          ("updated_at_id", ["updated_at", "id"])):
        op.create_index(f"ix_marketplace_offers_{name}", "marketplace_offers", columns)
    op.create_index("ix_marketplace_offers_external_offer_id", "marketplace_offers",
                    ["external_offer_id"],
                    postgresql_where=sa.text("external_offer_id IS NOT NULL"))
    op.create_table(
        "marketplace_offer_changes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("offer_id", sa.Uuid(), sa.ForeignKey(
            "marketplace_offers.id", ondelete="CASCADE",
            name="fk_marketplace_offer_changes_offer_id_marketplace_offers"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("marketplace_status", sa.String(60), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("previous_status", sa.String(20)),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("event_id", sa.String(200)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.String(500)),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_index("ix_marketplace_offer_changes_offer_id_id", "marketplace_offer_changes",
                    ["offer_id", "id"])
    op.create_table(
        "marketplace_events",
        sa.Column("marketplace", sa.String(10), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("offer_id", sa.Uuid()),
        sa.Column("answer", postgresql.JSONB(), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("marketplace_events")
    op.drop_table("marketplace_offer_changes")
    op.drop_table("marketplace_offers")
