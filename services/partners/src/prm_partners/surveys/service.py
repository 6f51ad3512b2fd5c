"""Partner satisfaction surveys: PSAT and partner NPS answers, recorded through the API or
delivered, signed, by the survey tool, and the partner's results over a period.

An answer names its partner and perhaps the contact who gave it; its comment is personal data,
blanked when the contact is erased. The event of an answer carries neither.
"""

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerSurveyAnsweredV1
from prm_partners.contacts.service import usable_contact
from prm_partners.declaration import PARTNERS_READ, PARTNERS_WRITE, SURVEY_INTAKE
from prm_partners.partners import repository as partners
from prm_partners.partners.service import ensure_own, ensure_visible, publish
from prm_partners.surveys.listing import SURVEY_RESPONSES
from prm_partners.surveys.models import SurveyInvitation, SurveyResponse
from prm_partners.surveys.schemas import (
    NpsResult,
    PsatResult,
    SatisfactionOut,
    SurveyAnswerIn,
    SurveyKind,
)
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    field_error,
)
from prm_platform.security import Principal

# Fewer answers than this and a score says little.
LOW_SAMPLE = 30
# An answer's time may run this far ahead of ours (clocks differ), no further.
CLOCK_SKEW = dt.timedelta(minutes=5)
DEFAULT_PERIOD = dt.timedelta(days=90)


class IntakeNotConfigured(Forbidden):
    """The survey intake has no signing secret: every delivery is refused (fail closed)."""

    slug = "survey-intake-not-configured"


async def _partner_of(session: AsyncSession, principal: Principal, data: SurveyAnswerIn
                      ) -> uuid.UUID:
    partner_id = data.partner_id or (principal.partner_id if principal.is_partner else None)
    if partner_id is None:
        raise Unprocessable("name the partner that answered", errors=[
            field_error("body.partner_id", "required with a vendor key")])
    ensure_own(principal, partner_id, "partner")
    if await partners.get(session, partner_id) is None:
        if principal.is_partner:
            raise NotFound("partner not found")
        raise Unprocessable("the partner does not exist", errors=[
            field_error("body.partner_id", "unknown partner")])
    return partner_id


async def _check_answer(session: AsyncSession, partner_id: uuid.UUID, data: SurveyAnswerIn,
                        now: dt.datetime) -> None:
    if data.answered_at is not None and data.answered_at > now + CLOCK_SKEW:
        raise Unprocessable("an answer cannot come from the future", errors=[
            field_error("body.answered_at", "in the future")])
    if data.contact_id is not None and await usable_contact(
            session, partner_id, data.contact_id) is None:
        raise Unprocessable("the contact is not one of the partner's (or was erased)", errors=[
            field_error("body.contact_id", "not a contact of this partner")])


async def _invited_contact(session: AsyncSession, partner_id: uuid.UUID,
                           data: SurveyAnswerIn) -> uuid.UUID | None:
    """The answer's contact: the one named, else that of the invitation it answers (if not
    erased). The invitation must be one sent to the partner for this survey (422 otherwise:
    another org's invitations are not told apart from unknown ones)."""
    if data.invitation_id is None:
        return data.contact_id
    invitation = await session.get(SurveyInvitation, data.invitation_id)
    if (invitation is None or invitation.partner_id != partner_id
            or invitation.status == "withdrawn"):
        raise Unprocessable("no such invitation of the partner", errors=[
            field_error("body.invitation_id", "not an invitation sent to this partner")])
    if invitation.kind != data.kind.value:
        raise Unprocessable(f"the invitation is to the {invitation.kind} survey", errors=[
            field_error("body.kind", f"the invitation is to the {invitation.kind} survey")])
    if data.contact_id is not None and data.contact_id != invitation.contact_id:
        raise Unprocessable("the invitation was sent to another contact", errors=[
            field_error("body.contact_id", "not the invitation's contact")])
    if data.contact_id is None and await usable_contact(
            session, partner_id, invitation.contact_id) is None:
        return None  # erased since: the answer names no one
    return invitation.contact_id


async def _announce(session: AsyncSession, row: SurveyResponse) -> None:
    await publish(session, row.partner_id, PartnerSurveyAnsweredV1(
        partner_id=row.partner_id, response_id=row.id, kind=row.kind, score=row.score,
        answered_at=row.answered_at))


async def record(session: AsyncSession, principal: Principal, data: SurveyAnswerIn,
                 *, intake: bool = False) -> tuple[SurveyResponse, bool]:
    """Record an answer, or update the one with the same ``external_id`` (score and comment);
    True if it is new. An event when an answer is new or its score changed; nothing at all
    when a re-sent answer changes nothing."""
    if intake:
        principal.require(SURVEY_INTAKE)
        principal.ensure_vendor()
    else:
        principal.require(PARTNERS_WRITE)
    partner_id = await _partner_of(session, principal, data)
    now = dt.datetime.now(dt.UTC)
    await _check_answer(session, partner_id, data, now)
    contact_id = await _invited_contact(session, partner_id, data)
    if data.external_id is not None:
        existing = await _by_external_id(session, partner_id, data.external_id)
        if existing is not None:
            return await _update(session, existing, data, now), False
    row = SurveyResponse(
        id=new_id(), partner_id=partner_id, contact_id=contact_id, kind=data.kind.value,
        score=data.score, comment=data.comment, answered_at=data.answered_at or now,
        external_id=data.external_id, invitation_id=data.invitation_id, version=1,
        created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    await _announce(session, row)
    return row, True


async def _by_external_id(session: AsyncSession, partner_id: uuid.UUID, external_id: str
                          ) -> SurveyResponse | None:
    """The answer the tool knows by ``external_id``, locked; two deliveries of one id at once
    wait for each other (the lock lasts until the transaction ends), so the second updates."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"survey-response:{partner_id}:{external_id}"})
    return (await session.execute(select(SurveyResponse).where(
        SurveyResponse.partner_id == partner_id, SurveyResponse.external_id == external_id
    ).with_for_update())).scalar_one_or_none()


async def _update(session: AsyncSession, row: SurveyResponse, data: SurveyAnswerIn,
                  now: dt.datetime) -> SurveyResponse:
    if row.kind != data.kind.value:
        raise Conflict(f"the answer {data.external_id!r} is to the {row.kind} survey",
                       response_id=str(row.id))
    rescored = row.score != data.score
    linked = data.invitation_id is not None and row.invitation_id != data.invitation_id
    if not rescored and not linked and row.comment == data.comment:
        return row
    row.score, row.comment = data.score, data.comment
    if linked:
        row.invitation_id = data.invitation_id
    row.version += 1
    row.updated_at = now
    await session.flush()
    if rescored:
        await _announce(session, row)
    return row


async def get(session: AsyncSession, principal: Principal, response_id: uuid.UUID
              ) -> SurveyResponse:
    principal.require(PARTNERS_READ)
    row = await session.get(SurveyResponse, response_id)
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("survey response not found")
    return row


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[SurveyResponse], str | None, int | None]:
    principal.require(PARTNERS_READ)
    visible = select(SurveyResponse)
    if principal.is_partner:
        visible = visible.where(SurveyResponse.partner_id == principal.partner_id)
    return await SURVEY_RESPONSES.page(session, visible, query)


def _decimal(value: Decimal, places: str) -> str:
    rounded = value.quantize(Decimal(places), rounding=ROUND_HALF_UP)
    return str(abs(rounded) if rounded == 0 else rounded)  # never "-0.0"


def nps_of(counts: Mapping[int, int]) -> NpsResult:
    """NPS from the number of answers per score (0-10): % promoters (9-10) − % detractors
    (0-6), exact, then rounded half away from zero to one decimal."""
    promoters = sum(n for score, n in counts.items() if score >= 9)
    passives = sum(n for score, n in counts.items() if 7 <= score <= 8)
    detractors = sum(n for score, n in counts.items() if score <= 6)
    total = promoters + passives + detractors
    nps = (None if total == 0
           else _decimal(Decimal(100 * (promoters - detractors)) / total, "0.1"))
    return NpsResult(responses=total, promoters=promoters, passives=passives,
                     detractors=detractors, nps=nps, low_sample=total < LOW_SAMPLE)


def psat_of(counts: Mapping[int, int]) -> PsatResult:
    """PSAT from the number of answers per score (1-5): the mean, and the share of 4-5."""
    total = sum(counts.values())
    satisfied = sum(n for score, n in counts.items() if score >= 4)
    if total == 0:
        return PsatResult(responses=0, mean=None, satisfied=0, satisfied_percent=None,
                          low_sample=True)
    mean = Decimal(sum(score * n for score, n in counts.items())) / total
    return PsatResult(responses=total, mean=_decimal(mean, "0.01"), satisfied=satisfied,
                      satisfied_percent=_decimal(Decimal(100 * satisfied) / total, "0.1"),
                      low_sample=total < LOW_SAMPLE)


def period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The half-open period ``[start, end)``, 90 days long unless both ends are given: the
    last 90 days (today included) if neither is, else the 90 days from ``start`` or up to
    ``end``."""
    if end is None:
        end = (start + DEFAULT_PERIOD if start is not None
               else dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1))
    start = start or end - DEFAULT_PERIOD
    if start >= end:
        raise Unprocessable("the period is empty: `from` must come before `to`", errors=[
            field_error("query.from", "not before `to`")])
    return start, end


async def satisfaction(session: AsyncSession, principal: Principal, partner_id: uuid.UUID,
                       start: dt.date | None, end: dt.date | None) -> SatisfactionOut:
    """The partner's NPS and PSAT over the answers given in the period (UTC days)."""
    principal.require(PARTNERS_READ)
    await ensure_visible(session, principal, partner_id)
    if await partners.get(session, partner_id) is None:
        raise NotFound("partner not found")
    start, end = period(start, end)

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), dt.UTC)

    rows = (await session.execute(
        select(SurveyResponse.kind, SurveyResponse.score, func.count())
        .where(SurveyResponse.partner_id == partner_id,
               SurveyResponse.answered_at >= midnight(start),
               SurveyResponse.answered_at < midnight(end))
        .group_by(SurveyResponse.kind, SurveyResponse.score))).all()
    counts: dict[str, dict[int, int]] = {kind.value: {} for kind in SurveyKind}
    for kind, score, n in rows:
        counts[kind][score] = n
    return SatisfactionOut(partner_id=partner_id, from_date=start, to_date=end,
                           nps=nps_of(counts[SurveyKind.nps]),
                           psat=psat_of(counts[SurveyKind.psat]))
