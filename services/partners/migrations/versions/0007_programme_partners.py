"""Partner organisations for a programme: served countries, currency, languages,
specialisations, website, the vendor's CRM id, two-tier distribution (a reseller's parent
distributor), the tier, and the lifecycle from applicant to offboarded with its reasons.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATUSES = "'applicant', 'onboarding', 'active', 'suspended', 'offboarded'"
TYPES = "'reseller', 'msp', 'mssp', 'si', 'isv', 'distributor', 'referral'"


def upgrade() -> None:
    op.drop_constraint("ck_partners_status", "partners")
    op.drop_constraint("ck_partners_type", "partners")
    op.execute("UPDATE partners SET status = 'offboarded' WHERE status = 'terminated'")
    op.create_check_constraint("ck_partners_status", "partners", f"status IN ({STATUSES})")
    op.create_check_constraint("ck_partners_type", "partners", f"type IN ({TYPES})")
    text_array = ARRAY(sa.String(40))
    for column in (
        sa.Column("countries_served", ARRAY(sa.String(2)), nullable=False, server_default="{}"),
        sa.Column("default_currency", sa.CHAR(3)),
        sa.Column("languages", text_array, nullable=False, server_default="{}"),
        sa.Column("specialisations", ARRAY(sa.String(60)), nullable=False,
                  server_default="{}"),
        sa.Column("website_domain", sa.String(253)),
        sa.Column("external_id", sa.String(100)),
        sa.Column("parent_id", sa.Uuid(), sa.ForeignKey("partners.id")),
        sa.Column("parent_access", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("employees", sa.Integer()),
        sa.Column("tier", sa.String(60)),
        sa.Column("status_reason", sa.String(500)),
        sa.Column("status_changed_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("activated_at", sa.TIMESTAMP(timezone=True)),
    ):
        op.add_column("partners", column)
    op.create_index("uq_partners_external_id", "partners", ["external_id"], unique=True,
                    postgresql_where=sa.text("external_id IS NOT NULL"))
    op.create_index("ix_partners_parent_id_id", "partners", ["parent_id", "id"],
                    postgresql_where=sa.text("parent_id IS NOT NULL"))
    op.create_index("ix_partners_tier_id", "partners", ["tier", "id"])
    op.create_check_constraint("ck_partners_not_own_parent", "partners", "parent_id <> id")


def downgrade() -> None:
    op.drop_constraint("ck_partners_not_own_parent", "partners")
    for index in ("ix_partners_tier_id", "ix_partners_parent_id_id", "uq_partners_external_id"):
        op.drop_index(index, "partners")
    for column in ("activated_at", "status_changed_at", "status_reason", "tier", "employees",
                   "parent_access", "parent_id", "external_id", "website_domain",
                   "specialisations", "languages", "default_currency", "countries_served"):
        op.drop_column("partners", column)
    op.drop_constraint("ck_partners_status", "partners")
    op.drop_constraint("ck_partners_type", "partners")
    op.execute("UPDATE partners SET status = 'terminated' WHERE status = 'offboarded'")
    op.execute("DELETE FROM partners WHERE status = 'applicant' OR type = 'mssp'")
    op.create_check_constraint(
        "ck_partners_status", "partners",
        "status IN ('onboarding', 'active', 'suspended', 'terminated')")
    op.create_check_constraint(
        "ck_partners_type", "partners",
        "type IN ('reseller', 'msp', 'si', 'isv', 'distributor', 'referral')")
