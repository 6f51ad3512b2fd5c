"""Learning paths imported from the LMS, enrolments of partners' contacts in them, and the
course completions the LMS reports."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base

ENROLMENT_STATUSES = ("enrolled", "in_progress", "completed")
ENROLMENT_REASONS = ("joined", "tier_changed", "onboarding", "by_hand")


class LearningPath(Base):
    """A path as the LMS last sent it (upserted by the LMS's id, ``external_id``): its courses
    in order (``[{"course_id", "name"}]``), who it is for and what it grants. Each change is a
    new ``version``, kept in ``learning_path_versions``."""

    __tablename__ = "learning_paths"
    __table_args__ = (
        Index("ix_learning_paths_roles", "roles", postgresql_using="gin"),
        Index("ix_learning_paths_enrol_on", "enrol_on", postgresql_using="gin"),
        Index("ix_learning_paths_language_id", "language", "id"),
        Index("ix_learning_paths_name_id", "name", "id"),
        Index("ix_learning_paths_updated_at_id", "updated_at", "id"),
        Index("ix_learning_paths_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35))
    # Empty: every contact role, every tier, every partner type.
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    tiers: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    partner_types: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    courses: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    certification_code: Mapped[str | None] = mapped_column(String(60))
    enrol_on: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(name || ' ' || external_id)", persisted=True))


class LearningPathVersion(Base):
    """What a path was in each of its versions (its content as sent)."""

    __tablename__ = "learning_path_versions"

    path_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("learning_paths.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class LearningEnrolment(Base):
    """One contact in one path (at most once: enrolling again finds it). Its counts are the
    path's current courses the contact completed; once ``completed`` it stays so. On the
    contact's erasure ``contact_id`` becomes null: the programme's counts keep it, no one can
    tell whose it was."""

    __tablename__ = "learning_enrolments"
    __table_args__ = (
        UniqueConstraint("path_id", "contact_id", name="uq_learning_enrolments_path_id"),
        Index("ix_learning_enrolments_partner_id_id", "partner_id", "id"),
        Index("ix_learning_enrolments_path_id_id", "path_id", "id"),
        Index("ix_learning_enrolments_contact_id_id", "contact_id", "id"),
        Index("ix_learning_enrolments_status_id", "status", "id"),
        Index("ix_learning_enrolments_reason_id", "reason", "id"),
        Index("ix_learning_enrolments_enrolled_at_id", "enrolled_at", "id"),
        Index("ix_learning_enrolments_completed_at", "completed_at"),
        Index("ix_learning_enrolments_updated_at_id", "updated_at", "id"),
        CheckConstraint(f"status IN {ENROLMENT_STATUSES}", name="status"),
        CheckConstraint(f"reason IN {ENROLMENT_REASONS}", name="reason"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    path_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learning_paths.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(20))
    path_version: Mapped[int] = mapped_column(Integer)
    courses_done: Mapped[int] = mapped_column(Integer)
    courses_total: Mapped[int] = mapped_column(Integer)
    enrolled_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    first_completion_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    certification_id: Mapped[uuid.UUID | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class LearningCompletion(Base):
    """A course a contact completed, as the LMS reported it (its record id: once). Kept
    whether or not a path holds the course yet: a path that adds it later counts it. On the
    contact's erasure ``contact_id`` becomes null."""

    __tablename__ = "learning_completions"
    __table_args__ = (
        Index("ix_learning_completions_contact_id_course_id", "contact_id", "course_id"),
        Index("ix_learning_completions_partner_id_id", "partner_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(String(100), unique=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    course_id: Mapped[str] = mapped_column(String(100))
    completed_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    source: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
