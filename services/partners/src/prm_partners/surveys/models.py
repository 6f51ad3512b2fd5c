import datetime as dt
import uuid

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base

# Each kind's scale, as the database holds it to.
SCORE_RANGES = ("(kind = 'psat' AND score BETWEEN 1 AND 5) "
                "OR (kind = 'nps' AND score BETWEEN 0 AND 10)")


class SurveyResponse(Base):
    """One answer to a partner satisfaction survey: PSAT (1-5) or partner NPS (0-10). The
    survey tool's own id (``external_id``) makes a re-sent answer an update of the first."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        # The partner's answers over a period (its satisfaction) and the partner_id filter.
        Index("ix_survey_responses_partner_id_answered_at", "partner_id", "answered_at"),
        Index("uq_survey_responses_partner_id_external_id", "partner_id", "external_id",
              unique=True, postgresql_where=text("external_id IS NOT NULL")),
        # A contact's answers: its export and its erasure.
        Index("ix_survey_responses_contact_id", "contact_id",
              postgresql_where=text("contact_id IS NOT NULL")),
        # The list grammar's filter, range, sort and change feed.
        Index("ix_survey_responses_kind_id", "kind", "id"),
        Index("ix_survey_responses_answered_at_id", "answered_at", "id"),
        Index("ix_survey_responses_updated_at_id", "updated_at", "id"),
        # A campaign's answered invitations.
        Index("ix_survey_responses_invitation_id", "invitation_id",
              postgresql_where=text("invitation_id IS NOT NULL")),
        CheckConstraint(SCORE_RANGES, name="score"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    # Kept after the contact's erasure, as certifications keep theirs: the comment goes.
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    external_id: Mapped[str | None] = mapped_column(String(200))
    # The campaign's invitation it answers, if the tool names it.
    invitation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("survey_invitations.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


# A campaign's trigger, as the database holds it to.
TRIGGERS = ("(trigger = 'schedule' AND every_days BETWEEN 7 AND 730 AND event IS NULL) "
            "OR (trigger = 'event' AND event IS NOT NULL AND every_days IS NULL)")


class SurveyCampaign(Base):
    """Who is sent which survey, and when: a partner's contacts of some roles, every N days or
    after an event (onboarding completed, a payout paid), never twice within the quiet
    period by any campaign."""

    __tablename__ = "survey_campaigns"
    __table_args__ = (
        # The list grammar's filters, sort and change feed.
        Index("ix_survey_campaigns_kind_id", "kind", "id"),
        Index("ix_survey_campaigns_trigger_id", "trigger", "id"),
        Index("ix_survey_campaigns_active_id", "active", "id"),
        Index("ix_survey_campaigns_name_id", "name", "id"),
        Index("ix_survey_campaigns_updated_at_id", "updated_at", "id"),
        CheckConstraint(TRIGGERS, name="trigger"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    contact_roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    # Empty: every partner type / tier; statuses default to active partners only.
    partner_types: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    partner_tiers: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    partner_statuses: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    trigger: Mapped[str] = mapped_column(String(10))
    every_days: Mapped[int | None] = mapped_column(Integer)
    event: Mapped[str | None] = mapped_column(String(40))
    delay_days: Mapped[int] = mapped_column(Integer)
    min_days_between: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class SurveyInvitation(Base):
    """One contact invited by one campaign, once per cycle (a scheduled campaign's period, or
    the event that triggered it): a replayed event or a second scheduler replica finds the
    invitation there. ``pending`` until it is due (an event's delay), then ``sent`` with its
    event; ``withdrawn`` if its contact was erased or deleted before."""

    __tablename__ = "survey_invitations"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", "cycle"),
        # The quiet period: a contact's latest invitation, whatever the campaign.
        Index("ix_survey_invitations_contact_id_due_at", "contact_id", "due_at"),
        # The pending ones coming due.
        Index("ix_survey_invitations_due_at", "due_at",
              postgresql_where=text("status = 'pending'")),
        # A campaign's counts.
        Index("ix_survey_invitations_campaign_id_status", "campaign_id", "status"),
        CheckConstraint("status IN ('pending', 'sent', 'withdrawn')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("survey_campaigns.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    # Kept after the contact's erasure (a tombstone), as answers keep theirs.
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(10))
    cycle: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))
    due_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
