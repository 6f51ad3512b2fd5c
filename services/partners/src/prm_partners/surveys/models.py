import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
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
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
