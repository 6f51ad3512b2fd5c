"""The survey answers' list grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid

from prm_partners.surveys.models import SurveyResponse
from prm_partners.surveys.schemas import SurveyKind
from prm_platform.listing import Filter, Listing, QueryTime, Range

SURVEY_RESPONSES = Listing(
    SurveyResponse.id,
    Filter("partner_id", SurveyResponse.partner_id, uuid.UUID, "Only these partners' answers."),
    Filter("kind", SurveyResponse.kind, SurveyKind, "Only answers to these surveys."),
    Range("answered_at", SurveyResponse.answered_at, QueryTime, "When it was answered"),
    sorts={"answered_at": SurveyResponse.answered_at},
    updated=SurveyResponse.updated_at,
)
