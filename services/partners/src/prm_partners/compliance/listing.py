"""The compliance part's list grammar (prm_platform.listing): certification types and
agreements (the programme's set-up), and a partner's certifications and signatures."""

from __future__ import annotations

import uuid

from prm_partners.compliance.models import (
    Agreement,
    AgreementSignature,
    Certification,
    CertificationType,
)
from prm_partners.compliance.schemas import CertificationSource, CertificationStatus, Code
from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_platform.types import QueryDate

CERTIFICATION_TYPES = Listing(
    CertificationType.id,
    Filter("required", CertificationType.required, bool,
           "Only those (not) required for compliance."),
    Filter("code", CertificationType.code, Code, "Only these codes."),
    Range("created_at", CertificationType.created_at, QueryTime, "When it was created"),
    sorts={"name": CertificationType.name},
    search=CertificationType.search_text, search_fields=("code", "name"),
    updated=CertificationType.updated_at,
)

AGREEMENTS = Listing(
    Agreement.id,
    Filter("required", Agreement.required, bool, "Only those (not) required for compliance."),
    Filter("code", Agreement.code, Code, "Only these codes."),
    Range("created_at", Agreement.created_at, QueryTime, "When it was created"),
    sorts={"title": Agreement.title},
    search=Agreement.search_text, search_fields=("code", "title"),
    updated=Agreement.updated_at,
)

CERTIFICATIONS = Listing(
    Certification.id,
    Filter("status", Certification.status, CertificationStatus),
    Filter("code", Certification.code, Code, "Only certifications of these types (codes)."),
    Filter("type_id", Certification.type_id, uuid.UUID, "Only certifications of these types."),
    Filter("contact_id", Certification.contact_id, uuid.UUID, "Only these contacts'."),
    Filter("source", Certification.source, CertificationSource,
           "Only those recorded this way (`api`, `lms`)."),
    Range("earned_on", Certification.earned_on, QueryDate, "The day it was earned"),
    Range("expires_on", Certification.expires_on, QueryDate, "Its last valid day"),
    Range("created_at", Certification.created_at, QueryTime, "When it was recorded"),
    sorts={"earned_on": Certification.earned_on},
    updated=Certification.updated_at,
)

SIGNATURES = Listing(
    AgreementSignature.id,
    Filter("agreement", AgreementSignature.code, Code, "Only these agreements' (their codes)."),
    Filter("agreement_id", AgreementSignature.agreement_id, uuid.UUID,
           "Only these agreements'."),
    Filter("signer_contact_id", AgreementSignature.signer_contact_id, uuid.UUID,
           "Only those these contacts signed."),
    Range("signed_on", AgreementSignature.signed_on, QueryDate, "The day it was signed"),
    Range("expires_on", AgreementSignature.expires_on, QueryDate, "Its last day in force"),
    Range("created_at", AgreementSignature.created_at, QueryTime, "When it was recorded"),
    sorts={"signed_on": AgreementSignature.signed_on},
    updated=AgreementSignature.updated_at,
)
