"""The partner directory holds what lead routing matches: the countries a partner serves, its
languages and specialisations (from the snapshot) and the codes of its active certifications
(from its certification events, each remembered in partner_directory_certifications so that an
expiry removes exactly its own code). GIN indexes: routing filters them with @> and &&.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision, down_revision = "0018", "0017"

# Each array column with the width of its values.
ROUTING_FACTS = {"countries_served": 2, "languages": 40, "specialisations": 60,
                 "certifications": 60}


def upgrade() -> None:
    for column, width in ROUTING_FACTS.items():
        op.add_column("partner_directory", sa.Column(
            column, postgresql.ARRAY(sa.String(width)), nullable=False, server_default="{}"))
        op.create_index(f"ix_partner_directory_{column}", "partner_directory", [column],
                        postgresql_using="gin")
    op.create_table(
        "partner_directory_certifications",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("certification_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("expires_on", sa.Date()),
        sa.Column("expired_on", sa.Date()),
        sa.PrimaryKeyConstraint("partner_id", "certification_id",
                                name="pk_partner_directory_certifications"))


def downgrade() -> None:
    op.drop_table("partner_directory_certifications")
    for column in ROUTING_FACTS:
        op.drop_index(f"ix_partner_directory_{column}", "partner_directory")
        op.drop_column("partner_directory", column)
