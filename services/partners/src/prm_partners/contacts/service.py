"""People at a partner, and their personal data's rights: export and erasure.

A partner key holding the contacts scopes manages its own org's contacts (a distributor reads
those of the resellers that granted it access); vendor keys any. Every change, export and
erasure leaves an audit entry naming the fields, never their values.
"""

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import ContactChangedV1
from prm_partners.compliance.models import AgreementSignature, Certification
from prm_partners.contacts import repository
from prm_partners.contacts.listing import CONTACTS
from prm_partners.contacts.models import Contact, ContactAuditEntry
from prm_partners.contacts.schemas import (
    AuditEntryOut,
    CertificationRecord,
    ContactCreate,
    ContactExport,
    ContactOut,
    ContactUpdate,
    LearningCompletionRecord,
    LearningEnrolmentRecord,
    SignatureRecord,
    SurveyAnswerRecord,
)
from prm_partners.declaration import CONTACTS_READ, CONTACTS_WRITE
from prm_partners.learning import service as learning
from prm_partners.onboarding import service as onboarding
from prm_partners.partners import repository as partners
from prm_partners.partners.service import ensure_own, ensure_visible, publish
from prm_partners.resources import service as resources
from prm_partners.surveys import campaigns
from prm_partners.surveys.models import SurveyResponse
from prm_platform.http import check_if_match, etag
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, InvalidTransition, NotFound
from prm_platform.security import Principal

# What erasure blanks on the contact's row.
PERSONAL_FIELDS = ("name", "email", "phone", "job_title", "roles")


async def contact_count(session: AsyncSession, partner_id: uuid.UUID) -> int:
    """How many contacts a partner has (erased ones not counted). No authorisation: for the
    other parts of the service, which checked the caller themselves."""
    return await repository.count(session, partner_id)


async def usable_contact(session: AsyncSession, partner_id: uuid.UUID, contact_id: uuid.UUID
                         ) -> Contact | None:
    """The partner's contact, if it exists and was not erased (for certifications and
    signatures that name one)."""
    contact = await repository.get(session, partner_id, contact_id)
    return contact if contact is not None and contact.erased_at is None else None


async def _announce(session: AsyncSession, contact: Contact) -> None:
    """The contact as it is now (no one, once deleted or erased), for the read models that
    find people (the portal's search), which forget it with the erasure."""
    gone = contact.deleted_at is not None or contact.erased_at is not None
    await publish(session, contact.partner_id, ContactChangedV1(
        contact_id=contact.id, partner_id=contact.partner_id,
        name=None if gone else contact.name, email=None if gone else contact.email,
        job_title=None if gone else contact.job_title, removed=gone, version=contact.version))


def _audit(session: AsyncSession, principal: Principal, contact: Contact, action: str,
           fields: list[str], detail: str | None = None) -> None:
    session.add(ContactAuditEntry(
        id=new_id(), contact_id=contact.id, partner_id=contact.partner_id, action=action,
        actor=principal.subject, fields=fields, detail=detail, at=dt.datetime.now(dt.UTC)))


async def _readable(session: AsyncSession, principal: Principal, partner_id: uuid.UUID) -> None:
    principal.require(CONTACTS_READ)
    await ensure_visible(session, principal, partner_id, "partner")


async def _writable(session: AsyncSession, principal: Principal, partner_id: uuid.UUID) -> None:
    principal.require(CONTACTS_WRITE)
    ensure_own(principal, partner_id, "partner")
    if await partners.get(session, partner_id) is None:
        raise NotFound("partner not found")


async def _email_free(session: AsyncSession, partner_id: uuid.UUID, email: str,
                      contact_id: uuid.UUID | None = None) -> None:
    await repository.lock_email(session, partner_id, email)
    holder = await repository.by_email(session, partner_id, email)
    if holder is not None and holder.id != contact_id:
        raise Conflict(f"another contact of this partner has the e-mail address {email!r}",
                       contact_id=str(holder.id))


async def create(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                 data: ContactCreate) -> Contact:
    await _writable(session, principal, partner_id)
    await _email_free(session, partner_id, data.email)
    now = dt.datetime.now(dt.UTC)
    contact = Contact(id=new_id(), partner_id=partner_id, **data.model_dump(mode="json"),
                      version=1, created_at=now, updated_at=now)
    session.add(contact)
    await session.flush()
    _audit(session, principal, contact, "created",
           [f for f in PERSONAL_FIELDS if getattr(contact, f)])
    await _announce(session, contact)
    await onboarding.contact_added(session, partner_id)
    await learning.contact_changed(session, contact)
    return contact


async def get(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
              contact_id: uuid.UUID) -> Contact:
    await _readable(session, principal, partner_id)
    contact = await repository.get(session, partner_id, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    return contact


async def list_page(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                    query: ListQuery, *, include_erased: bool = False
                    ) -> tuple[list[Contact], str | None, int | None]:
    await _readable(session, principal, partner_id)
    visible = repository.visible(partner_id, include_erased=include_erased,
                                 changes=query.updated_since is not None)
    return await CONTACTS.page(session, visible, query)


async def _for_change(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                      contact_id: uuid.UUID, if_match: str | None) -> Contact:
    await _writable(session, principal, partner_id)
    contact = await repository.get(session, partner_id, contact_id, for_update=True)
    if contact is None:
        raise NotFound("contact not found")
    check_if_match(if_match, contact.version)
    if contact.erased_at is not None:
        raise InvalidTransition("this contact's personal data was erased; it cannot change",
                                current_status="erased")
    return contact


async def update(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                 contact_id: uuid.UUID, data: ContactUpdate, if_match: str | None) -> Contact:
    contact = await _for_change(session, principal, partner_id, contact_id, if_match)
    changes = {k: v for k, v in data.model_dump(mode="json", exclude_unset=True).items()
               if getattr(contact, k) != v}
    if "email" in changes:
        await _email_free(session, partner_id, changes["email"], contact.id)
    if not changes:
        return contact
    for field, value in changes.items():
        setattr(contact, field, value)
    contact.version += 1
    contact.updated_at = dt.datetime.now(dt.UTC)
    _audit(session, principal, contact, "updated", sorted(changes))
    await session.flush()
    await _announce(session, contact)
    if "roles" in changes:  # the paths of its new roles
        await learning.contact_changed(session, contact)
    return contact


def _blank(contact: Contact, now: dt.datetime) -> list[str]:
    """Blank the contact's personal data (erased as of ``now``); the fields that held some."""
    held = [f for f in PERSONAL_FIELDS if getattr(contact, f)]
    contact.name = contact.email = contact.phone = contact.job_title = None
    contact.roles = []
    contact.erased_at = now
    contact.version += 1
    contact.updated_at = now
    return held


async def delete(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                 contact_id: uuid.UUID, if_match: str | None) -> None:
    """Only a contact nothing refers to: one who earned a certification or signed an
    agreement is erased instead, so those records keep their integrity. The row stays as a
    tombstone without personal data, marked deleted: reads answer 404, and only the change
    feed (``updated_since``) shows it, so that a synced system hears the contact is gone."""
    contact = await _for_change(session, principal, partner_id, contact_id, if_match)
    referred = await session.scalar(select(
        exists().where(Certification.contact_id == contact.id)
        | exists().where(AgreementSignature.signer_contact_id == contact.id)))
    if referred:
        raise Conflict("certifications or signatures refer to this contact: erase its "
                       "personal data instead (POST .../erase)")
    _audit(session, principal, contact, "deleted", list(PERSONAL_FIELDS))
    now = dt.datetime.now(dt.UTC)
    _blank(contact, now)
    contact.deleted_at = now
    await session.flush()
    await _announce(session, contact)


async def _exportable(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                      contact_id: uuid.UUID) -> Contact:
    await _writable(session, principal, partner_id)
    contact = await repository.get(session, partner_id, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    return contact


async def record_export(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                        contact_id: uuid.UUID) -> None:
    """The audit entry of an export, written before it is read (in a transaction of its own:
    the export itself is a read, which changes nothing)."""
    contact = await _exportable(session, principal, partner_id, contact_id)
    _audit(session, principal, contact, "exported", [])
    await session.flush()


async def export(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                 contact_id: uuid.UUID) -> ContactExport:
    """Every piece of personal data held about the contact, as one document, its audit trail
    included (the export's own entry too, once ``record_export`` committed it). Reads only."""
    contact = await _exportable(session, principal, partner_id, contact_id)
    certifications = (await session.execute(
        select(Certification).where(Certification.contact_id == contact.id)
        .order_by(Certification.id))).scalars()
    signatures = (await session.execute(
        select(AgreementSignature).where(AgreementSignature.signer_contact_id == contact.id)
        .order_by(AgreementSignature.id))).scalars()
    answers = (await session.execute(
        select(SurveyResponse).where(SurveyResponse.contact_id == contact.id)
        .order_by(SurveyResponse.id))).scalars()
    enrolments, completions = await learning.contact_learning(session, contact.id)
    return ContactExport(
        exported_at=dt.datetime.now(dt.UTC), contact=ContactOut.of(contact),
        certifications=[CertificationRecord.model_validate(c, from_attributes=True)
                        for c in certifications],
        signatures=[SignatureRecord(id=s.id, agreement=s.code,
                                    agreement_version=s.agreement_version,
                                    signed_on=s.signed_on, signer_name=s.signer_name,
                                    expires_on=s.expires_on) for s in signatures],
        survey_answers=[SurveyAnswerRecord.model_validate(a, from_attributes=True)
                        for a in answers],
        learning_enrolments=[LearningEnrolmentRecord.model_validate(e, from_attributes=True)
                             for e in enrolments],
        learning_completions=[LearningCompletionRecord.model_validate(c, from_attributes=True)
                              for c in completions],
        enablement_uses=await resources.contact_uses(session, contact.id),
        audit=[AuditEntryOut.model_validate(e)
               for e in await repository.audit_trail(session, contact.id)])


async def erase(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                contact_id: uuid.UUID, if_match: str | None) -> Contact:
    """Blank the contact's personal data (and the signer's name recorded from it on
    signatures, the comments of its survey answers, the e-mail of its survey invitations'
    events); the row stays, so certifications and
    signatures still name a contact."""
    contact = await _for_change(session, principal, partner_id, contact_id, if_match)
    now = dt.datetime.now(dt.UTC)
    erased = _blank(contact, now)
    signatures = (await session.execute(
        sql_update(AgreementSignature)
        .where(AgreementSignature.signer_contact_id == contact.id,
               AgreementSignature.signer_name.is_not(None))
        .values(signer_name=None, updated_at=now)
        .returning(AgreementSignature.id))).all()
    if signatures:
        erased.append("signer_name")
    # Survey comments are the contact's words; the answers' scores stay, still naming it.
    comments = (await session.execute(
        sql_update(SurveyResponse)
        .where(SurveyResponse.contact_id == contact.id, SurveyResponse.comment.is_not(None))
        .values(comment=None, version=SurveyResponse.version + 1, updated_at=now)
        .returning(SurveyResponse.id))).all()
    if comments:
        erased.append("survey_comment")
    # Its pending survey invitations are withdrawn, and the e-mail leaves their events.
    erased.extend(await campaigns.forget_contact(session, contact.id))
    # Its learning no longer names it: the enrolments and completions stay, unattributed.
    erased.extend(await learning.forget_contact(session, contact.id))
    # Its uses of the resource library stay for the org's counts, naming no one.
    erased.extend(await resources.forget_contact(session, contact.id))
    _audit(session, principal, contact, "erased", erased,
           f"signer name blanked on {len(signatures)} signature(s)" if signatures else None)
    await session.flush()
    await _erase_stored_answers(session, contact)
    await _announce(session, contact)
    return contact


def _as_erased(value: Any, contact_id: str, erased: dict[str, Any]) -> Any:
    """``value`` (a stored answer's JSON) with the records that show the contact as they
    stand after its erasure: the contact itself as its tombstone, a signature it signed
    without the signer's name."""
    if isinstance(value, list):
        return [_as_erased(item, contact_id, erased) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("id") == contact_id:
        return erased
    found = {k: _as_erased(v, contact_id, erased) for k, v in value.items()}
    if found.get("signer_contact_id") == contact_id and "signer_name" in found:
        found["signer_name"] = None
    if found.get("contact_id") == contact_id and "comment" in found:
        found["comment"] = None  # a survey answer it gave
    return found


async def _erase_stored_answers(session: AsyncSession, contact: Contact) -> None:
    """The answers kept for Idempotency-Key replays (24 hours) that show the contact: the
    contact's creation, a signature that recorded its name... are rewritten in the erasure's
    transaction, so that a retry of those requests replays the erased record, never the
    personal data."""
    contact_id = str(contact.id)
    erased = ContactOut.of(contact).model_dump(mode="json")
    for row in await repository.stored_answers_naming(session, contact.id, contact.created_at):
        try:
            before = json.loads(row.body)
        except ValueError:
            continue  # not a JSON answer: nothing of ours
        after = _as_erased(before, contact_id, erased)
        if after == before:
            continue
        headers = dict(row.headers or {})
        if after is erased and "etag" in headers:
            headers["etag"] = etag(contact.version)
        body = json.dumps(after, ensure_ascii=False, separators=(",", ":")).encode()
        await repository.rewrite_stored_answer(session, row.scope, row.key, headers, body)
