"""Survey campaigns and their invitations; an answer may name the invitation it answers.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey_campaigns",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("contact_roles", ARRAY(sa.String(20)), nullable=False),
        sa.Column("partner_types", ARRAY(sa.String(20)), nullable=False),
        sa.Column("partner_tiers", ARRAY(sa.String(60)), nullable=False),
        sa.Column("partner_statuses", ARRAY(sa.String(20)), nullable=False),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("every_days", sa.Integer()),
        sa.Column("event", sa.String(40)),
        sa.Column("delay_days", sa.Integer(), nullable=False),
        sa.Column("min_days_between", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(trigger = 'schedule' AND every_days BETWEEN 7 AND 730 AND event IS NULL) "
            "OR (trigger = 'event' AND event IS NOT NULL AND every_days IS NULL)",
            name="trigger"),
    )
    for columns in (["kind", "id"], ["trigger", "id"], ["active", "id"], ["name", "id"],
                    ["updated_at", "id"]):
        op.create_index(f"ix_survey_campaigns_{'_'.join(columns)}", "survey_campaigns",
                        columns)
    op.create_table(
        "survey_invitations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid(), sa.ForeignKey("survey_campaigns.id"),
                  nullable=False),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("cycle", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("due_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("sent_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.UniqueConstraint("campaign_id", "contact_id", "cycle",
                            name="uq_survey_invitations_campaign_id"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'withdrawn')", name="status"),
    )
    op.create_index("ix_survey_invitations_contact_id_due_at", "survey_invitations",
                    ["contact_id", "due_at"])
    op.create_index("ix_survey_invitations_due_at", "survey_invitations", ["due_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_survey_invitations_campaign_id_status", "survey_invitations",
                    ["campaign_id", "status"])
    op.add_column("survey_responses", sa.Column(
        "invitation_id", sa.Uuid(), sa.ForeignKey("survey_invitations.id")))
    op.create_index("ix_survey_responses_invitation_id", "survey_responses",
                    ["invitation_id"], postgresql_where=sa.text("invitation_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_survey_responses_invitation_id", "survey_responses")
    op.drop_column("survey_responses", "invitation_id")
    op.drop_table("survey_invitations")
    op.drop_table("survey_campaigns")
