import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base

# Where tasks without a due date sort (after every due date).
NO_DUE_DATE = "'9999-12-31 00:00:00+00'::timestamptz"

TASK_KINDS = ("manual", "agreement_signed", "certification_earned", "contacts_added",
              "first_deal_registered", "learning_path_completed")
# What the events (and the learning part, in its own transaction) said a partner did.
FACT_KINDS = ("agreement_signed", "certification_earned", "first_deal_registered",
              "learning_path_completed")


class OnboardingTemplate(Base):
    """What a partner of some types must do to finish onboarding. Its tasks are a JSON list
    (ordered, at most 50): a plan copies them, so changing a template never rewrites a plan
    already started."""

    __tablename__ = "onboarding_templates"
    # The list grammar's filters, ranges, sorts, change feed and search.
    __table_args__ = (
        Index("ix_onboarding_templates_partner_types", "partner_types", postgresql_using="gin"),
        Index("ix_onboarding_templates_activates_partner_id", "activates_partner", "id"),
        Index("ix_onboarding_templates_name_id", "name", "id"),
        Index("ix_onboarding_templates_created_at", "created_at"),
        Index("ix_onboarding_templates_updated_at_id", "updated_at", "id"),
        Index("ix_onboarding_templates_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Empty: every partner type.
    partner_types: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    activates_partner: Mapped[bool] = mapped_column(Boolean)
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(name)", persisted=True))


class OnboardingPlan(Base):
    """One partner's onboarding, started when it entered ``onboarding`` (at the partner's
    ``version`` then: the natural key of that onboarding, so a replayed event finds it)."""

    __tablename__ = "onboarding_plans"
    __table_args__ = (
        UniqueConstraint("partner_id", "partner_version",
                         name="uq_onboarding_plans_partner_id_partner_version"),
        Index("uq_onboarding_plans_open_partner_id", "partner_id", unique=True,
              postgresql_where=text("status = 'open'")),
        Index("ix_onboarding_plans_partner_id_id", "partner_id", "id"),
        # A template's deletion unlinks its plans.
        Index("ix_onboarding_plans_template_id", "template_id",
              postgresql_where=text("template_id IS NOT NULL")),
        CheckConstraint("status IN ('open', 'completed')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    partner_version: Mapped[int] = mapped_column(Integer)
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("onboarding_templates.id", ondelete="SET NULL"))
    template_name: Mapped[str] = mapped_column(String(200))
    template_version: Mapped[int] = mapped_column(Integer)
    activates_partner: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # When the periodic job last checked its contact counts (oldest first, so it rotates).
    checked_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
    # The version of its last prm.partner.onboarding_progress.v1; a new plan starts from its
    # partner's earlier plans' so that it only grows per partner.
    progress_version: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class OnboardingTask(Base):
    __tablename__ = "onboarding_tasks"
    __table_args__ = (
        UniqueConstraint("plan_id", "key", name="uq_onboarding_tasks_plan_id_key"),
        Index("ix_onboarding_tasks_partner_id_id", "partner_id", "id"),
        # The list grammar's filters (status: open, overdue or done), ranges, sorts and
        # change feed.
        Index("ix_onboarding_tasks_completed_at_due_at", "completed_at", "due_at"),
        Index("ix_onboarding_tasks_kind_id", "kind", "id"),
        Index("ix_onboarding_tasks_key_id", "key", "id"),
        Index("ix_onboarding_tasks_due_at", "due_at", postgresql_where=text("due_at IS NOT NULL")),
        Index("ix_onboarding_tasks_due_order_id", "due_order", "id"),
        Index("ix_onboarding_tasks_created_at", "created_at"),
        Index("ix_onboarding_tasks_updated_at_id", "updated_at", "id"),
        CheckConstraint(f"kind IN {TASK_KINDS}", name="kind"),
        CheckConstraint("completed_how IN ('by_hand', 'event', 'check')", name="completed_how"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("onboarding_plans.id", ondelete="CASCADE"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    due_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    completed_how: Mapped[str | None] = mapped_column(String(20))
    # The key or user that ticked it, or the event type / check that completed it.
    completed_by: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # Written when the task is created and when it is done: the change feed's order.
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # The due date's order, tasks without one last (what `sort=due_at` pages by).
    due_order: Mapped[dt.datetime] = mapped_column(
        TIMESTAMP(timezone=True), Computed(f"coalesce(due_at, {NO_DUE_DATE})", persisted=True))


class OnboardingFact(Base):
    """What the events said a partner did, kept whether or not a plan exists yet, so a fact
    that came first still completes a task later. Keyed by the event's natural id (a
    signature, a certification); a partner's first deal is one fact per partner, the earliest
    registration, rather than a row per deal."""

    __tablename__ = "onboarding_facts"
    __table_args__ = (
        Index("ix_onboarding_facts_partner_id_kind_code", "partner_id", "kind", "code"),
        CheckConstraint(f"kind IN {FACT_KINDS}", name="kind"),
    )

    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    natural_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column()
    code: Mapped[str | None] = mapped_column(String(100))
    # The event's time (the earliest, for the first deal): replays leave it as it is.
    occurred_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    event_type: Mapped[str] = mapped_column(String(100))
