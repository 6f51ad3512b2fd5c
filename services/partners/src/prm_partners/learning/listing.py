"""The learning paths' and enrolments' list grammar (prm_platform.listing)."""

from __future__ import annotations

import uuid

from prm_partners.contacts.schemas import ContactRole
from prm_partners.learning.models import LearningEnrolment, LearningPath
from prm_partners.learning.schemas import (
    LearningEnrolmentReason,
    LearningEnrolmentStatus,
    LearningEnrolOn,
)
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import LanguageTag

LEARNING_PATHS = Listing(
    LearningPath.id,
    Filter("role", LearningPath.roles, ContactRole, "Only paths naming any of these roles."),
    Filter("enrol_on", LearningPath.enrol_on, LearningEnrolOn,
           "Only paths enrolling by themselves on any of these."),
    Filter("language", LearningPath.language, LanguageTag, "Only paths in these languages."),
    sorts={"name": LearningPath.name},
    search=LearningPath.search_text, search_fields=("name", "external_id"),
    updated=LearningPath.updated_at,
)

LEARNING_ENROLMENTS = Listing(
    LearningEnrolment.id,
    Filter("partner_id", LearningEnrolment.partner_id, uuid.UUID,
           "Only these partners' enrolments."),
    Filter("path_id", LearningEnrolment.path_id, uuid.UUID, "Only these paths' enrolments."),
    Filter("contact_id", LearningEnrolment.contact_id, uuid.UUID,
           "Only these contacts' enrolments."),
    Filter("status", LearningEnrolment.status, LearningEnrolmentStatus,
           "Only enrolments in these statuses."),
    Filter("reason", LearningEnrolment.reason, LearningEnrolmentReason,
           "Only enrolments made for these reasons."),
    Range("enrolled_at", LearningEnrolment.enrolled_at, QueryTime, "When enrolled"),
    Range("completed_at", LearningEnrolment.completed_at, QueryTime, "When completed"),
    sorts={"enrolled_at": LearningEnrolment.enrolled_at},
    updated=LearningEnrolment.updated_at,
)
