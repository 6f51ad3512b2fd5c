"""The survey answers' and campaigns' list grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid

from prm_partners.surveys.models import SurveyCampaign, SurveyResponse
from prm_partners.surveys.schemas import CampaignTrigger, SurveyKind
from prm_platform.listing import Filter, Listing, QueryTime, Range

SURVEY_RESPONSES = Listing(
    SurveyResponse.id,
    Filter("partner_id", SurveyResponse.partner_id, uuid.UUID, "Only these partners' answers."),
    Filter("kind", SurveyResponse.kind, SurveyKind, "Only answers to these surveys."),
    Range("answered_at", SurveyResponse.answered_at, QueryTime, "When it was answered"),
    sorts={"answered_at": SurveyResponse.answered_at},
    updated=SurveyResponse.updated_at,
)

SURVEY_CAMPAIGNS = Listing(
    SurveyCampaign.id,
    Filter("kind", SurveyCampaign.kind, SurveyKind, "Only campaigns of these surveys."),
    Filter("trigger", SurveyCampaign.trigger, CampaignTrigger,
           "Only scheduled or only event-triggered campaigns."),
    Filter("active", SurveyCampaign.active, bool, "Only running (true) or paused (false) "
           "campaigns."),
    sorts={"name": SurveyCampaign.name},
    updated=SurveyCampaign.updated_at,
)
