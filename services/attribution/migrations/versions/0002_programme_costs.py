"""Programme costs and the partner facts the programme KPIs need: MDF activities, the costs
projected from the incentives' events (approved MDF claims, rebates, SPIFFs and their
reversals) and the payout batches paid; certifications, activation and onboarding of
partners; the deals' type; touches linked to an MDF activity; the vendor's own figures (total
pipeline, acquisition costs); and the runs of the scheduled recompute of the data-driven
models.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.add_column("deals", sa.Column("deal_type", sa.String(20)))
    op.add_column("partner_directory", sa.Column("activated_at", TS))
    op.add_column("partner_directory", sa.Column("onboarding_completed_at", TS))
    op.add_column("touchpoints", sa.Column("mdf_request_id", sa.Uuid()))
    op.create_index("ix_touchpoints_mdf_request_id", "touchpoints", ["mdf_request_id"],
                    postgresql_where=sa.text("mdf_request_id IS NOT NULL"))
    op.create_table(
        "certifications",
        sa.Column("certification_id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("earned_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date()),
        sa.Column("expired_on", sa.Date()),
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
    )
    op.create_index("ix_certifications_partner_id", "certifications",
                    ["partner_id", "earned_on"])
    op.create_table(
        "mdf_activities",
        sa.Column("request_id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("activity_type", sa.String(100)),
        sa.Column("start_date", sa.Date()),
        sa.Column("end_date", sa.Date()),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("planned_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_mdf_activities_partner_id", "mdf_activities",
                    ["partner_id", "request_id"])
    op.create_table(
        "programme_costs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid()),
        sa.Column("mdf_request_id", sa.Uuid()),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("incurred_on", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("kind IN ('mdf', 'rebate', 'spiff')", name="known_kind"),
    )
    op.create_index("ix_programme_costs_partner_id", "programme_costs",
                    ["partner_id", "incurred_on"])
    op.create_index("ix_programme_costs_mdf_request_id", "programme_costs",
                    ["mdf_request_id"])
    op.create_table(
        "payouts",
        sa.Column("batch_id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("paid_on", sa.Date()),
        sa.Column("payment_reference", sa.String(200)),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_payouts_partner_id", "payouts", ["partner_id", "paid_on"])
    op.create_table(
        "vendor_figures",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("partner_type", sa.String(40)),
        sa.Column("description", sa.String(500)),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.CheckConstraint("period_from < period_to", name="period_not_empty"),
        sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    )
    # One total pipeline per period and currency; acquisition costs are lines (many a period).
    op.create_index("uq_vendor_figures_total_pipeline", "vendor_figures",
                    ["period_from", "period_to", "currency"], unique=True,
                    postgresql_where=sa.text("kind = 'total_pipeline'"))
    op.create_index("ix_vendor_figures_period", "vendor_figures", ["kind", "period_from"])
    op.create_table(
        "datadriven_runs",
        sa.Column("history_version", sa.Integer(), primary_key=True),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("history_deals", sa.Integer(), nullable=False),
        sa.Column("after_deal_id", sa.Uuid()),
        sa.Column("deals_recomputed", sa.Integer(), nullable=False),
        sa.Column("deals_changed", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("completed_at", TS),
        sa.UniqueConstraint("rules_version", "fingerprint", name="uq_datadriven_runs_history"),
    )


def downgrade() -> None:
    for table in ("datadriven_runs", "vendor_figures", "payouts", "programme_costs",
                  "mdf_activities", "certifications"):
        op.drop_table(table)
    op.drop_index("ix_touchpoints_mdf_request_id", "touchpoints")
    op.drop_column("touchpoints", "mdf_request_id")
    op.drop_column("partner_directory", "onboarding_completed_at")
    op.drop_column("partner_directory", "activated_at")
    op.drop_column("deals", "deal_type")
