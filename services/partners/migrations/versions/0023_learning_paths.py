"""Learning paths from the LMS, enrolments of partners' contacts, course completions; an
onboarding task (and fact) of a completed learning path.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from prm_platform.migrations import search_column

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_OLD_TASK_KINDS = ("manual", "agreement_signed", "certification_earned", "contacts_added",
                   "first_deal_registered")
_OLD_FACT_KINDS = ("agreement_signed", "certification_earned", "first_deal_registered")
_NEW = "learning_path_completed"


def _kinds(table: str, kinds: tuple[str, ...]) -> None:
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_kind")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_kind CHECK (kind IN {kinds})")


def upgrade() -> None:
    _kinds("onboarding_tasks", (*_OLD_TASK_KINDS, _NEW))
    _kinds("onboarding_facts", (*_OLD_FACT_KINDS, _NEW))
    op.create_table(
        "learning_paths",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("roles", ARRAY(sa.String(20)), nullable=False),
        sa.Column("tiers", ARRAY(sa.String(60)), nullable=False),
        sa.Column("partner_types", ARRAY(sa.String(20)), nullable=False),
        sa.Column("courses", JSONB(), nullable=False),
        sa.Column("certification_code", sa.String(60)),
        sa.Column("enrol_on", ARRAY(sa.String(20)), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.UniqueConstraint("external_id", name="uq_learning_paths_external_id"),
    )
    for statement in search_column("learning_paths", "name || ' ' || external_id"):
        op.execute(statement)
    op.create_index("ix_learning_paths_roles", "learning_paths", ["roles"],
                    postgresql_using="gin")
    op.create_index("ix_learning_paths_enrol_on", "learning_paths", ["enrol_on"],
                    postgresql_using="gin")
    for columns in (["language", "id"], ["name", "id"], ["updated_at", "id"]):
        op.create_index(f"ix_learning_paths_{'_'.join(columns)}", "learning_paths", columns)
    op.create_table(
        "learning_path_versions",
        sa.Column("path_id", sa.Uuid(), sa.ForeignKey(
            "learning_paths.id", ondelete="CASCADE",
            name="fk_learning_path_versions_path_id_learning_paths"), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
    )
    op.create_table(
        "learning_enrolments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("path_id", sa.Uuid(), sa.ForeignKey("learning_paths.id"), nullable=False),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id")),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("path_version", sa.Integer(), nullable=False),
        sa.Column("courses_done", sa.Integer(), nullable=False),
        sa.Column("courses_total", sa.Integer(), nullable=False),
        sa.Column("enrolled_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("first_completion_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("completed_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("certification_id", sa.Uuid()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.UniqueConstraint("path_id", "contact_id", name="uq_learning_enrolments_path_id"),
        sa.CheckConstraint("status IN ('enrolled', 'in_progress', 'completed')",
                           name="ck_learning_enrolments_status"),
        sa.CheckConstraint("reason IN ('joined', 'tier_changed', 'onboarding', 'by_hand')",
                           name="ck_learning_enrolments_reason"),
    )
    for columns in (["partner_id", "id"], ["path_id", "id"], ["contact_id", "id"],
                    ["status", "id"], ["reason", "id"], ["enrolled_at", "id"],
                    ["updated_at", "id"]):
        op.create_index(f"ix_learning_enrolments_{'_'.join(columns)}", "learning_enrolments",
                        columns)
    op.create_index("ix_learning_enrolments_completed_at", "learning_enrolments",
                    ["completed_at"])
    op.create_table(
        "learning_completions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("record_id", sa.String(100), nullable=False),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("contact_id", sa.Uuid(), sa.ForeignKey("contacts.id")),
        sa.Column("course_id", sa.String(100), nullable=False),
        sa.Column("completed_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.UniqueConstraint("record_id", name="uq_learning_completions_record_id"),
    )
    op.create_index("ix_learning_completions_contact_id_course_id", "learning_completions",
                    ["contact_id", "course_id"])
    op.create_index("ix_learning_completions_partner_id_id", "learning_completions",
                    ["partner_id", "id"])


def downgrade() -> None:
    for table in ("learning_completions", "learning_enrolments", "learning_path_versions",
                  "learning_paths"):
        op.drop_table(table)
    op.execute("DELETE FROM onboarding_tasks WHERE kind = 'learning_path_completed'")
    op.execute("DELETE FROM onboarding_facts WHERE kind = 'learning_path_completed'")
    _kinds("onboarding_tasks", _OLD_TASK_KINDS)
    _kinds("onboarding_facts", _OLD_FACT_KINDS)
