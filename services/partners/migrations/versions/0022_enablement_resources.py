"""The enablement resource library: resources, their published versions, files and uses.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from prm_platform.migrations import search_column

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "enablement_resources",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("published", JSONB()),
        sa.Column("published_version", sa.Integer()),
        sa.Column("audience_roles", ARRAY(sa.String(40)), nullable=False),
        sa.Column("audience_tiers", ARRAY(sa.String(60)), nullable=False),
        sa.Column("audience_partner_types", ARRAY(sa.String(20)), nullable=False),
        sa.Column("audience_countries", ARRAY(sa.String(2)), nullable=False),
        sa.Column("audience_certifications", ARRAY(sa.String(60)), nullable=False),
        sa.Column("titles", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint("status IN ('draft', 'published', 'retired')", name="status"),
        sa.CheckConstraint("kind IN ('document', 'video', 'link', 'sales_tool')", name="kind"),
    )
    for columns in (["kind", "id"], ["status", "id"], ["updated_at", "id"]):
        op.create_index(f"ix_enablement_resources_{'_'.join(columns)}", "enablement_resources",
                        columns)
    for statement in search_column("enablement_resources", "titles"):
        op.execute(statement)
    op.create_table(
        "enablement_resource_versions",
        sa.Column("resource_id", sa.Uuid(), sa.ForeignKey("enablement_resources.id"),
                  primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.Column("published_at", _TS, nullable=False),
    )
    op.create_table(
        "enablement_files",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("resource_id", sa.Uuid(), sa.ForeignKey("enablement_resources.id"),
                  nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("store", sa.String(10), nullable=False),
        sa.Column("object_key", sa.String(300)),
        sa.Column("content", sa.LargeBinary()),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.CheckConstraint("(store = 'postgres') = (content IS NOT NULL)", name="content"),
    )
    op.create_index("ix_enablement_files_resource_id_id", "enablement_files",
                    ["resource_id", "id"])
    op.create_table(
        "enablement_resource_uses",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("resource_id", sa.Uuid(), sa.ForeignKey("enablement_resources.id"),
                  nullable=False),
        sa.Column("resource_version", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id")),
        sa.Column("subject", sa.String(200)),
        sa.Column("used_at", _TS, nullable=False),
        sa.CheckConstraint("kind IN ('view', 'download')", name="kind"),
    )
    for columns in (["resource_id", "id"], ["partner_id", "id"], ["contact_id", "id"],
                    ["kind", "id"], ["language", "id"], ["used_at", "id"]):
        op.create_index(f"ix_enablement_resource_uses_{'_'.join(columns)}",
                        "enablement_resource_uses", columns)


def downgrade() -> None:
    op.drop_table("enablement_resource_uses")
    op.drop_table("enablement_files")
    op.drop_table("enablement_resource_versions")
    op.drop_table("enablement_resources")
