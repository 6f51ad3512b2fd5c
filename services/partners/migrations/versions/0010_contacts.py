"""Certification types and partners' certifications, agreements with their versions and
partners' signatures: what the compliance check reads.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
            sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "certification_types",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("validity_months", sa.Integer()),
        sa.Column("required", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("code", name="uq_certification_types_code"),
        sa.CheckConstraint("validity_months BETWEEN 1 AND 600",
                           name="ck_certification_types_validity_months"),
    )
    op.create_table(
        "certifications",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("type_id", sa.Uuid(), sa.ForeignKey("certification_types.id"),
                  nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id")),
        sa.Column("earned_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date()),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("lms_record_id", sa.String(100)),
        sa.Column("ended_on", sa.Date()),
        sa.Column("revoked_reason", sa.String(500)),
        *_stamps(),
        sa.CheckConstraint("status IN ('active', 'expired', 'revoked')",
                           name="ck_certifications_status"),
        sa.CheckConstraint("source IN ('api', 'lms')", name="ck_certifications_source"),
        sa.CheckConstraint("expires_on >= earned_on", name="ck_certifications_dates"),
        sa.CheckConstraint("(status = 'active') = (ended_on IS NULL)",
                           name="ck_certifications_ended_on"),
        sa.CheckConstraint("lms_record_id IS NULL OR source = 'lms'",
                           name="ck_certifications_lms_record_id"),
    )
    op.create_index("ix_certifications_partner_id_id", "certifications", ["partner_id", "id"])
    op.create_index("ix_certifications_partner_id_status_id", "certifications",
                    ["partner_id", "status", "id"])
    op.create_index("ix_certifications_contact_id", "certifications", ["contact_id"],
                    postgresql_where=sa.text("contact_id IS NOT NULL"))
    op.create_index("ix_certifications_active_expires_on", "certifications", ["expires_on"],
                    postgresql_where=sa.text("status = 'active' AND expires_on IS NOT NULL"))
    op.create_index("uq_certifications_partner_id_lms_record_id", "certifications",
                    ["partner_id", "lms_record_id"], unique=True,
                    postgresql_where=sa.text("lms_record_id IS NOT NULL"))
    op.create_table(
        "agreements",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("code", name="uq_agreements_code"),
    )
    op.create_table(
        "agreement_versions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("agreement_id", sa.Uuid(), sa.ForeignKey("agreements.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("term_months", sa.Integer()),
        sa.Column("document_url", sa.String(2000)),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.UniqueConstraint("agreement_id", "number",
                            name="uq_agreement_versions_agreement_id_number"),
        sa.CheckConstraint("number >= 1", name="ck_agreement_versions_number"),
        sa.CheckConstraint("term_months BETWEEN 1 AND 600",
                           name="ck_agreement_versions_term_months"),
    )
    op.create_table(
        "agreement_signatures",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), sa.ForeignKey("agreements.id"), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("agreement_version", sa.Integer(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date()),
        sa.Column("signer_contact_id", sa.Uuid(), sa.ForeignKey("contacts.id")),
        sa.Column("signer_name", sa.String(200)),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        # The version signed exists.
        sa.ForeignKeyConstraint(
            ["agreement_id", "agreement_version"],
            ["agreement_versions.agreement_id", "agreement_versions.number"],
            name="fk_agreement_signatures_agreement_version"),
        sa.CheckConstraint("expires_on >= signed_on", name="ck_agreement_signatures_dates"),
        # A name, or a contact (whose name an erasure blanks).
        sa.CheckConstraint("signer_contact_id IS NOT NULL OR signer_name IS NOT NULL",
                           name="ck_agreement_signatures_signer"),
    )
    op.create_index("ix_agreement_signatures_partner_id_id", "agreement_signatures",
                    ["partner_id", "id"])
    op.create_index("ix_agreement_signatures_signer_contact_id", "agreement_signatures",
                    ["signer_contact_id"],
                    postgresql_where=sa.text("signer_contact_id IS NOT NULL"))


def downgrade() -> None:
    for table in ("agreement_signatures", "agreement_versions", "agreements",
                  "certifications", "certification_types"):
        op.drop_table(table)
