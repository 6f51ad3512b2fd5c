"""Onboarding templates and plans: the tasks each plan copied, and the facts from events that
complete them (kept even when they come before the plan).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KINDS = ("'manual', 'agreement_signed', 'certification_earned', 'contacts_added', "
         "'first_deal_registered'")


def upgrade() -> None:
    op.create_table(
        "onboarding_templates",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("partner_types", ARRAY(sa.String(20)), nullable=False),
        sa.Column("activates_partner", sa.Boolean(), nullable=False),
        sa.Column("tasks", JSONB, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("jsonb_typeof(tasks) = 'array'", name="ck_onboarding_templates_tasks"),
    )
    op.create_table(
        "onboarding_plans",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("partner_version", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Uuid(),
                  sa.ForeignKey("onboarding_templates.id", ondelete="SET NULL")),
        sa.Column("template_name", sa.String(200), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("activates_partner", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("completed_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("checked_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'completed')", name="ck_onboarding_plans_status"),
        sa.CheckConstraint("(status = 'completed') = (completed_at IS NOT NULL)",
                           name="ck_onboarding_plans_completed_at"),
        # One plan per onboarding: the partner's version when it entered onboarding.
        sa.UniqueConstraint("partner_id", "partner_version",
                            name="uq_onboarding_plans_partner_id_partner_version"),
    )
    op.create_index("uq_onboarding_plans_open_partner_id", "onboarding_plans", ["partner_id"],
                    unique=True, postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_onboarding_plans_partner_id_id", "onboarding_plans",
                    ["partner_id", "id"])
    op.create_index("ix_onboarding_plans_template_id", "onboarding_plans", ["template_id"],
                    postgresql_where=sa.text("template_id IS NOT NULL"))
    op.create_table(
        "onboarding_tasks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("plan_id", sa.Uuid(),
                  sa.ForeignKey("onboarding_plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("params", JSONB, nullable=False),
        sa.Column("due_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("completed_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("completed_how", sa.String(20)),
        sa.Column("completed_by", sa.String(200)),
        sa.Column("note", sa.String(500)),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_onboarding_tasks_kind"),
        sa.CheckConstraint("completed_how IN ('by_hand', 'event', 'check')",
                           name="ck_onboarding_tasks_completed_how"),
        sa.CheckConstraint("(completed_at IS NULL) = (completed_how IS NULL)",
                           name="ck_onboarding_tasks_completed"),
        sa.UniqueConstraint("plan_id", "key", name="uq_onboarding_tasks_plan_id_key"),
    )
    op.create_index("ix_onboarding_tasks_partner_id_id", "onboarding_tasks",
                    ["partner_id", "id"])
    # The overdue listing walks the open tasks by id.
    op.create_index("ix_onboarding_tasks_open_id", "onboarding_tasks", ["id"],
                    postgresql_where=sa.text("completed_at IS NULL"))
    op.create_table(
        "onboarding_facts",
        sa.Column("kind", sa.String(30), primary_key=True),
        sa.Column("natural_id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(100)),
        sa.Column("occurred_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.CheckConstraint("kind IN ('agreement_signed', 'certification_earned', "
                           "'first_deal_registered')", name="ck_onboarding_facts_kind"),
    )
    op.create_index("ix_onboarding_facts_partner_id_kind_code", "onboarding_facts",
                    ["partner_id", "kind", "code"])


def downgrade() -> None:
    op.drop_table("onboarding_facts")
    op.drop_table("onboarding_tasks")
    op.drop_table("onboarding_plans")
    op.drop_table("onboarding_templates")
