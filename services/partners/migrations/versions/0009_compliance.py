"""Contacts of partner organisations, and the audit trail of their personal data (before the
certifications and signatures, which refer to contacts).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(40)),
        sa.Column("job_title", sa.String(200)),
        sa.Column("roles", ARRAY(sa.String(20)), nullable=False, server_default="{}"),
        sa.Column("erased_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        # A live contact has a name and an address; an erased one has no personal data left.
        sa.CheckConstraint(
            "(erased_at IS NULL AND name IS NOT NULL AND email IS NOT NULL) OR "
            "(erased_at IS NOT NULL AND name IS NULL AND email IS NULL AND phone IS NULL "
            "AND job_title IS NULL AND roles = '{}')",
            name="ck_contacts_erased"),
        sa.CheckConstraint(
            "roles <@ ARRAY['admin', 'sales', 'marketing', 'technical']::varchar[]",
            name="ck_contacts_roles"),
    )
    op.create_index("ix_contacts_partner_id_id", "contacts", ["partner_id", "id"])
    op.create_index("uq_contacts_partner_id_email", "contacts",
                    ["partner_id", sa.text("lower(email)")], unique=True,
                    postgresql_where=sa.text("email IS NOT NULL"))
    op.create_table(
        "contact_audit",
        sa.Column("id", sa.Uuid(), primary_key=True),
        # No foreign key: a deleted contact's trail stays.
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("fields", ARRAY(sa.String(40)), nullable=False, server_default="{}"),
        sa.Column("detail", sa.String(500)),
        sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('created', 'updated', 'exported', 'erased', 'deleted')",
            name="ck_contact_audit_action"),
    )
    op.create_index("ix_contact_audit_contact_id_id", "contact_audit", ["contact_id", "id"])


def downgrade() -> None:
    op.drop_table("contact_audit")
    op.drop_table("contacts")
