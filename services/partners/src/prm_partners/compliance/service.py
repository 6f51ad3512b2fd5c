"""Certifications, agreements and each partner's compliance with the programme.

The programme's set-up (certification types, agreements and their versions) is the vendor's;
partner keys read it. A partner's certifications and signatures are recorded by vendor keys (an
LMS integration among them) and read by the partner itself. Each earned, expired, revoked or
signed record writes its event to the outbox in the same transaction, with the partner's row
locked first so one partner's events commit in order.

``active_certification_count`` and ``is_compliant`` are for the other parts of the service
(tiers, onboarding): no authorisation, the caller passes its session.
"""

import calendar
import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from prm_contracts import AgreementSignedV1, CertificationEarnedV1, CertificationExpiredV1
from prm_partners.compliance.listing import (
    AGREEMENTS,
    CERTIFICATION_TYPES,
    CERTIFICATIONS,
    SIGNATURES,
)
from prm_partners.compliance.models import (
    Agreement,
    AgreementSignature,
    AgreementVersion,
    Certification,
    CertificationType,
)
from prm_partners.compliance.schemas import (
    AgreementCreate,
    AgreementUpdate,
    AgreementVersionCreate,
    CertificationCreate,
    CertificationTypeCreate,
    CertificationTypeUpdate,
    ComplianceCheck,
    ComplianceGap,
    SignatureCreate,
)
from prm_partners.contacts.service import usable_contact
from prm_partners.declaration import (
    PARTNERS_READ,
    PARTNERS_WRITE,
    PROGRAMME_READ,
    PROGRAMME_WRITE,
)
from prm_partners.partners import repository as partners
from prm_partners.partners.models import Partner
from prm_partners.partners.service import ensure_own, ensure_visible, publish
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import Conflict, InvalidTransition, NotFound, Unprocessable, field_error
from prm_platform.security import Principal

# An agreement keeps at most this many versions (its answer lists them all).
MAX_AGREEMENT_VERSIONS = 100


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, on the month's last day when it is shorter
    (31 January + 1 month = 28 or 29 February)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return day.replace(year=year, month=month,
                       day=min(day.day, calendar.monthrange(year, month)[1]))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _lock(session: AsyncSession, key: str) -> None:
    """A transaction-scoped advisory lock on ``key``: two writers of one natural key (a code,
    an LMS record id) take turns, so the second sees the first's row and answers cleanly."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": key})


def _bad(field: str, message: str, detail: str) -> Unprocessable:
    return Unprocessable(detail, errors=[field_error(f"body.{field}", message)])


def _not_future(day: dt.date, field: str) -> None:
    if day > dt.date.today():
        raise _bad(field, "may not be in the future", f"{field} is in the future")


# The programme's set-up -------------------------------------------------------------------


def _reads_programme(principal: Principal) -> None:
    principal.require(PROGRAMME_READ)


def _writes_programme(principal: Principal) -> None:
    principal.require(PROGRAMME_WRITE)
    principal.ensure_vendor()


ListPage = tuple[list[Any], str | None, int | None]


async def list_types(session: AsyncSession, principal: Principal, query: ListQuery
                     ) -> ListPage:
    _reads_programme(principal)
    return await CERTIFICATION_TYPES.page(session, select(CertificationType), query)


async def _type(session: AsyncSession, type_id: uuid.UUID, *, for_update: bool = False
                ) -> CertificationType:
    query = select(CertificationType).where(CertificationType.id == type_id)
    found = (await session.execute(query.with_for_update() if for_update else query)
             ).scalar_one_or_none()
    if found is None:
        raise NotFound("certification type not found")
    return found


async def get_type(session: AsyncSession, principal: Principal, type_id: uuid.UUID
                   ) -> CertificationType:
    _reads_programme(principal)
    return await _type(session, type_id)


async def create_type(session: AsyncSession, principal: Principal,
                      data: CertificationTypeCreate) -> CertificationType:
    _writes_programme(principal)
    await _lock(session, f"certification-type:{data.code}")
    if await session.scalar(select(CertificationType.id).where(
            CertificationType.code == data.code)):
        raise Conflict(f"a certification type with code {data.code!r} exists")
    now = _now()
    row = CertificationType(id=new_id(), **data.model_dump(), version=1, created_at=now,
                            updated_at=now)
    session.add(row)
    await session.flush()
    return row


def _apply(row: Any, changes: dict[str, Any]) -> Any:
    changes = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if changes:
        for field, value in changes.items():
            setattr(row, field, value)
        row.version += 1
        row.updated_at = _now()
    return row


async def update_type(session: AsyncSession, principal: Principal, type_id: uuid.UUID,
                      data: CertificationTypeUpdate, if_match: str | None
                      ) -> CertificationType:
    _writes_programme(principal)
    row = await _type(session, type_id, for_update=True)
    check_if_match(if_match, row.version)
    _apply(row, data.model_dump(exclude_unset=True))
    await session.flush()
    return row


async def delete_type(session: AsyncSession, principal: Principal, type_id: uuid.UUID,
                      if_match: str | None) -> None:
    _writes_programme(principal)
    row = await _type(session, type_id, for_update=True)
    check_if_match(if_match, row.version)
    if await session.scalar(select(Certification.id).where(
            Certification.type_id == row.id).limit(1)):
        raise Conflict("certifications of this type were recorded; it cannot be deleted "
                       "(make it not required instead)")
    await session.delete(row)
    await session.flush()


def current_version(versions: Iterable[AgreementVersion], on: dt.date
                    ) -> AgreementVersion | None:
    """The latest version effective on or before ``on``."""
    effective = [v for v in versions if v.effective_on <= on]
    return max(effective, key=lambda v: v.number) if effective else None


async def versions_of(session: AsyncSession, agreement_ids: list[uuid.UUID]
                      ) -> dict[uuid.UUID, list[AgreementVersion]]:
    found: dict[uuid.UUID, list[AgreementVersion]] = {a: [] for a in agreement_ids}
    rows = (await session.execute(select(AgreementVersion).where(
        AgreementVersion.agreement_id.in_(agreement_ids)).order_by(
        AgreementVersion.agreement_id, AgreementVersion.number))).scalars()
    for version in rows:
        found[version.agreement_id].append(version)
    return found


async def list_agreements(session: AsyncSession, principal: Principal, query: ListQuery
                          ) -> tuple[ListPage, dict[uuid.UUID, list[AgreementVersion]]]:
    """A page of agreements, and the versions of each (one query)."""
    _reads_programme(principal)
    page = await AGREEMENTS.page(session, select(Agreement), query)
    return page, await versions_of(session, [a.id for a in page[0]])


async def _agreement(session: AsyncSession, agreement_id: uuid.UUID, *,
                     for_update: bool = False) -> Agreement:
    query = select(Agreement).where(Agreement.id == agreement_id)
    found = (await session.execute(query.with_for_update() if for_update else query)
             ).scalar_one_or_none()
    if found is None:
        raise NotFound("agreement not found")
    return found


async def get_agreement(session: AsyncSession, principal: Principal, agreement_id: uuid.UUID
                        ) -> tuple[Agreement, list[AgreementVersion]]:
    _reads_programme(principal)
    agreement = await _agreement(session, agreement_id)
    return agreement, (await versions_of(session, [agreement.id]))[agreement.id]


async def create_agreement(session: AsyncSession, principal: Principal, data: AgreementCreate
                           ) -> Agreement:
    _writes_programme(principal)
    await _lock(session, f"agreement:{data.code}")
    if await session.scalar(select(Agreement.id).where(Agreement.code == data.code)):
        raise Conflict(f"an agreement with code {data.code!r} exists")
    now = _now()
    row = Agreement(id=new_id(), **data.model_dump(), version=1, created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    return row


async def update_agreement(session: AsyncSession, principal: Principal,
                           agreement_id: uuid.UUID, data: AgreementUpdate, if_match: str | None
                           ) -> tuple[Agreement, list[AgreementVersion]]:
    _writes_programme(principal)
    agreement = await _agreement(session, agreement_id, for_update=True)
    check_if_match(if_match, agreement.version)
    _apply(agreement, data.model_dump(exclude_unset=True))
    await session.flush()
    return agreement, (await versions_of(session, [agreement.id]))[agreement.id]


async def add_version(session: AsyncSession, principal: Principal, agreement_id: uuid.UUID,
                      data: AgreementVersionCreate, if_match: str | None
                      ) -> tuple[Agreement, list[AgreementVersion]]:
    """The next version (numbered 1, 2, 3...), under the agreement's row lock so two
    additions cannot take one number."""
    _writes_programme(principal)
    agreement = await _agreement(session, agreement_id, for_update=True)
    check_if_match(if_match, agreement.version)
    versions = (await versions_of(session, [agreement.id]))[agreement.id]
    if len(versions) >= MAX_AGREEMENT_VERSIONS:
        raise Conflict(f"an agreement keeps at most {MAX_AGREEMENT_VERSIONS} versions")
    if versions and data.effective_on < versions[-1].effective_on:
        raise _bad("effective_on", f"before {versions[-1].effective_on.isoformat()}",
                   f"version {versions[-1].number} takes effect on "
                   f"{versions[-1].effective_on.isoformat()}; a newer version cannot take "
                   "effect earlier")
    version = AgreementVersion(
        id=new_id(), agreement_id=agreement.id, number=len(versions) + 1,
        effective_on=data.effective_on, term_months=data.term_months,
        document_url=str(data.document_url) if data.document_url else None, created_at=_now())
    session.add(version)
    _apply(agreement, {"updated_at": version.created_at})
    await session.flush()
    return agreement, [*versions, version]


# A partner's records ----------------------------------------------------------------------


async def _readable_partner(session: AsyncSession, principal: Principal,
                            partner_id: uuid.UUID) -> None:
    principal.require(PARTNERS_READ)
    await ensure_visible(session, principal, partner_id)
    if await partners.get(session, partner_id) is None:
        raise NotFound("partner not found")


async def _recording_for(session: AsyncSession, principal: Principal, partner_id: uuid.UUID
                         ) -> Partner:
    """Recording is the vendor's (and its LMS's); another org's key gets a 404 first. The
    partner's row is locked: its events commit in order."""
    principal.require(PARTNERS_WRITE)
    ensure_own(principal, partner_id)
    principal.ensure_vendor()
    partner = await partners.get(session, partner_id, for_update=True)
    if partner is None:
        raise NotFound("partner not found")
    return partner


async def earn(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
               data: CertificationCreate) -> tuple[Certification, bool]:
    """Record a certification; True if recorded now, False if the LMS record was known."""
    await _recording_for(session, principal, partner_id)
    if data.lms_record_id is not None:
        await _lock(session, f"lms-record:{partner_id}:{data.lms_record_id}")
        known = (await session.execute(select(Certification).where(
            Certification.partner_id == partner_id,
            Certification.lms_record_id == data.lms_record_id))).scalar_one_or_none()
        if known is not None:
            return known, False
    kind = (await session.execute(select(CertificationType).where(
        CertificationType.code == data.code))).scalar_one_or_none()
    if kind is None:
        raise _bad("code", "unknown certification type", f"no certification type {data.code!r}")
    _not_future(data.earned_on, "earned_on")
    if data.contact_id is not None and await usable_contact(
            session, partner_id, data.contact_id) is None:
        raise _bad("contact_id", "not a contact of this partner",
                   "the contact does not exist at this partner (or was erased)")
    expires_on = data.expires_on
    if expires_on is None and kind.validity_months is not None:
        expires_on = add_months(data.earned_on, kind.validity_months)
    now = _now()
    # Recorded active even when expires_on is past (a late LMS push): the expiry job then
    # expires it and announces that once, like any other.
    row = Certification(
        id=new_id(), partner_id=partner_id, type_id=kind.id, code=kind.code,
        contact_id=data.contact_id, earned_on=data.earned_on, expires_on=expires_on,
        status="active", source=data.source.value, lms_record_id=data.lms_record_id,
        version=1, created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    await publish(session, partner_id, CertificationEarnedV1(
        partner_id=partner_id, certification_id=row.id, code=row.code,
        contact_id=row.contact_id, earned_on=row.earned_on, expires_on=row.expires_on))
    return row, True


async def list_certifications(session: AsyncSession, principal: Principal,
                              partner_id: uuid.UUID, query: ListQuery) -> ListPage:
    await _readable_partner(session, principal, partner_id)
    return await CERTIFICATIONS.page(
        session, select(Certification).where(Certification.partner_id == partner_id), query)


async def _certification(session: AsyncSession, partner_id: uuid.UUID,
                         certification_id: uuid.UUID, *, for_update: bool = False
                         ) -> Certification:
    query = select(Certification).where(Certification.id == certification_id,
                                        Certification.partner_id == partner_id)
    found = (await session.execute(query.with_for_update() if for_update else query)
             ).scalar_one_or_none()
    if found is None:
        raise NotFound("certification not found")
    return found


async def get_certification(session: AsyncSession, principal: Principal,
                            partner_id: uuid.UUID, certification_id: uuid.UUID
                            ) -> Certification:
    await _readable_partner(session, principal, partner_id)
    return await _certification(session, partner_id, certification_id)


async def revoke(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                 certification_id: uuid.UUID, if_match: str | None, reason: str | None
                 ) -> Certification:
    await _recording_for(session, principal, partner_id)
    row = await _certification(session, partner_id, certification_id, for_update=True)
    check_if_match(if_match, row.version)
    if row.status != "active":
        raise InvalidTransition(f"cannot revoke a certification that is {row.status}",
                                current_status=row.status, allowed_from=["active"])
    today = dt.date.today()
    row.status, row.ended_on, row.revoked_reason = "revoked", today, reason
    row.version += 1
    row.updated_at = _now()
    await session.flush()
    await publish(session, partner_id, CertificationExpiredV1(
        partner_id=partner_id, certification_id=row.id, code=row.code, expired_on=today))
    return row


async def expire(session: AsyncSession, batch: int = 500) -> int:
    """The scheduled expiry: active certifications past their ``expires_on`` become
    ``expired``, each announced once (only active ones are taken, and the change commits with
    its event). Up to ``batch`` per run; the scheduler runs again at once while there are
    more."""
    expirable = (Certification.status == "active",
                 Certification.expires_on < func.current_date())
    # The partners' rows first, in one order, as requests lock them (partner, then its
    # certification): the job and a revocation cannot deadlock, and events stay in order.
    partner_ids = set((await session.execute(
        select(Certification.partner_id).where(*expirable)
        .order_by(Certification.expires_on, Certification.id).limit(batch))).scalars())
    for partner_id in sorted(partner_ids):
        await partners.get(session, partner_id, for_update=True)
    due = list((await session.execute(
        select(Certification)
        .where(*expirable, Certification.partner_id.in_(partner_ids))
        .order_by(Certification.expires_on, Certification.id).limit(batch)
        .with_for_update(skip_locked=True))).scalars())
    now = _now()
    for row in due:
        assert row.expires_on is not None
        row.status, row.ended_on = "expired", row.expires_on
        row.version += 1
        row.updated_at = now
        await publish(session, row.partner_id, CertificationExpiredV1(
            partner_id=row.partner_id, certification_id=row.id, code=row.code,
            expired_on=row.expires_on))
    await session.flush()
    return len(due)


async def sign(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
               data: SignatureCreate) -> AgreementSignature:
    await _recording_for(session, principal, partner_id)
    agreement = (await session.execute(select(Agreement).where(
        Agreement.code == data.agreement))).scalar_one_or_none()
    if agreement is None:
        raise _bad("agreement", "unknown agreement", f"no agreement {data.agreement!r}")
    versions = (await versions_of(session, [agreement.id]))[agreement.id]
    today = dt.date.today()
    signed_on = data.signed_on or today
    _not_future(signed_on, "signed_on")
    if data.version is None:
        version = current_version(versions, today)
        if version is None:
            raise Conflict(f"no version of {agreement.code!r} is in effect yet; name the "
                           "version signed")
    else:
        version = next((v for v in versions if v.number == data.version), None)
        if version is None:
            raise _bad("version", "no such version",
                       f"{agreement.code!r} has no version {data.version}")
    signer_name = data.signer_name
    if data.signer_contact_id is not None:
        contact = await usable_contact(session, partner_id, data.signer_contact_id)
        if contact is None:
            raise _bad("signer_contact_id", "not a contact of this partner",
                       "the contact does not exist at this partner (or was erased)")
        signer_name = contact.name
    expires_on = data.expires_on
    if expires_on is None and version.term_months is not None:
        expires_on = add_months(signed_on, version.term_months)
    if expires_on is not None and expires_on < signed_on:
        raise _bad("expires_on", "before signed_on", "expires_on is before signed_on")
    now = _now()
    row = AgreementSignature(
        id=new_id(), partner_id=partner_id, agreement_id=agreement.id, code=agreement.code,
        agreement_version=version.number, signed_on=signed_on, expires_on=expires_on,
        signer_contact_id=data.signer_contact_id, signer_name=signer_name,
        recorded_by=principal.subject, created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    await publish(session, partner_id, AgreementSignedV1(
        partner_id=partner_id, signature_id=row.id, agreement=row.code,
        version=row.agreement_version, signed_on=row.signed_on, expires_on=row.expires_on))
    return row


async def list_signatures(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                          query: ListQuery) -> ListPage:
    await _readable_partner(session, principal, partner_id)
    return await SIGNATURES.page(
        session, select(AgreementSignature).where(AgreementSignature.partner_id == partner_id),
        query)


async def get_signature(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                        signature_id: uuid.UUID) -> AgreementSignature:
    await _readable_partner(session, principal, partner_id)
    found = (await session.execute(select(AgreementSignature).where(
        AgreementSignature.id == signature_id,
        AgreementSignature.partner_id == partner_id))).scalar_one_or_none()
    if found is None:
        raise NotFound("signature not found")
    return found


# Compliance --------------------------------------------------------------------------------


def _valid_on(on: dt.date) -> ColumnElement[bool]:
    """A certification counts on ``on``: earned by then, not past its last day, and not
    revoked by then (so a past date is answered as it was)."""
    return and_(Certification.earned_on <= on,
                or_(Certification.expires_on.is_(None), Certification.expires_on >= on),
                or_(Certification.status != "revoked", Certification.ended_on > on))


async def active_certification_count(session: AsyncSession, partner_id: uuid.UUID,
                                     on: dt.date) -> int:
    """How many of the partner's certifications are valid on ``on`` (each earned one counts,
    two people certified twice). No authorisation: for other parts of the service."""
    return await session.scalar(select(func.count()).select_from(Certification).where(
        Certification.partner_id == partner_id, _valid_on(on))) or 0


async def gaps(session: AsyncSession, partner_id: uuid.UUID, on: dt.date) -> list[ComplianceGap]:
    """What the partner lacks on ``on``: each required agreement signed in its current
    version and in force, each required certification held."""
    found: list[ComplianceGap] = []
    agreements = list((await session.execute(select(Agreement).where(
        Agreement.required.is_(True)).order_by(Agreement.code))).scalars())
    versions = await versions_of(session, [a.id for a in agreements])
    signatures = list((await session.execute(select(AgreementSignature).where(
        AgreementSignature.partner_id == partner_id,
        AgreementSignature.agreement_id.in_([a.id for a in agreements]),
        AgreementSignature.signed_on <= on))).scalars())
    for agreement in agreements:
        current = current_version(versions[agreement.id], on)
        if current is None:  # nothing in effect yet: nothing to sign
            continue
        signed = [s for s in signatures if s.agreement_id == agreement.id]
        up_to_date = [s for s in signed if s.agreement_version >= current.number]
        if any(s.expires_on is None or s.expires_on >= on for s in up_to_date):
            continue
        if up_to_date:
            last = max(s.expires_on for s in up_to_date if s.expires_on is not None)
            found.append(ComplianceGap(kind="agreement", code=agreement.code, issue="expired",
                             detail=f"version {current.number} signed; the signature ran "
                             f"out on {last.isoformat()}"))
        elif signed:
            newest = max(s.agreement_version for s in signed)
            found.append(ComplianceGap(kind="agreement", code=agreement.code, issue="outdated",
                             detail=f"version {newest} signed; version {current.number} is "
                             f"current since {current.effective_on.isoformat()}"))
        else:
            found.append(ComplianceGap(kind="agreement", code=agreement.code, issue="missing",
                             detail=f"{agreement.title} not signed"))
    required = list((await session.execute(select(CertificationType).where(
        CertificationType.required.is_(True)).order_by(CertificationType.code))).scalars())
    held = set((await session.execute(select(Certification.type_id).where(
        Certification.partner_id == partner_id, _valid_on(on)).distinct())).scalars())
    lapsed: dict[uuid.UUID, dt.date | None] = {type_id: last for type_id, last in (
        await session.execute(
            select(Certification.type_id, func.max(Certification.expires_on)).where(
                Certification.partner_id == partner_id, Certification.earned_on <= on,
                Certification.expires_on < on,
                or_(Certification.status != "revoked", Certification.ended_on > on))
            .group_by(Certification.type_id))).all()}
    for kind in required:
        if kind.id in held:
            continue
        if (ran_out := lapsed.get(kind.id)) is not None:
            found.append(ComplianceGap(kind="certification", code=kind.code, issue="expired",
                             detail=f"the last {kind.code} certification ran out on "
                             f"{ran_out.isoformat()}"))
        else:
            found.append(ComplianceGap(kind="certification", code=kind.code, issue="missing",
                             detail=f"no valid {kind.code} certification ({kind.name})"))
    return found


async def is_compliant(session: AsyncSession, partner_id: uuid.UUID, on: dt.date) -> bool:
    """Whether the partner meets every requirement on ``on``. No authorisation: for other
    parts of the service."""
    return not await gaps(session, partner_id, on)


async def check(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                on: dt.date | None) -> ComplianceCheck:
    await _readable_partner(session, principal, partner_id)
    on = on or dt.date.today()
    found = await gaps(session, partner_id, on)
    return ComplianceCheck(partner_id=partner_id, checked_for=on, compliant=not found, gaps=found)
