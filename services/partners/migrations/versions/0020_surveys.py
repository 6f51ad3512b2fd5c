"""Partner satisfaction surveys: PSAT and partner NPS answers.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id")),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("answered_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("external_id", sa.String(200)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("(kind = 'psat' AND score BETWEEN 1 AND 5) "
                           "OR (kind = 'nps' AND score BETWEEN 0 AND 10)", name="score"),
    )
    op.create_index("ix_survey_responses_partner_id_answered_at", "survey_responses",
                    ["partner_id", "answered_at"])
    op.create_index("uq_survey_responses_partner_id_external_id", "survey_responses",
                    ["partner_id", "external_id"], unique=True,
                    postgresql_where=sa.text("external_id IS NOT NULL"))
    op.create_index("ix_survey_responses_contact_id", "survey_responses", ["contact_id"],
                    postgresql_where=sa.text("contact_id IS NOT NULL"))
    op.create_index("ix_survey_responses_kind_id", "survey_responses", ["kind", "id"])
    op.create_index("ix_survey_responses_answered_at_id", "survey_responses",
                    ["answered_at", "id"])
    op.create_index("ix_survey_responses_updated_at_id", "survey_responses",
                    ["updated_at", "id"])


def downgrade() -> None:
    op.drop_table("survey_responses")
