"""Keeps the partner directory from ``prm.partners``: every partner event carries the whole
snapshot with its version, so the newest version wins whatever the order of arrival. Also the
facts the programme KPIs count from: when a partner first became active (acquisition), when its
onboarding completed, and its certifications (velocity); each kept as the earliest seen, so
replays and reorderings change nothing."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_attribution.directory.models import PartnerDirectoryEntry
from prm_contracts import (
    CertificationEarnedV1,
    CertificationExpiredV1,
    OnboardingCompletedV1,
    PartnerCreatedV1,
    PartnerStatusChangedV1,
    PartnerTierChangedV1,
    PartnerUpdatedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import NewestVersion, projection

_SNAPSHOT = ("name", "type", "country", "status", "tier", "version", "last_event_at")


_RECORD = NewestVersion(
    PartnerDirectoryEntry.__tablename__, "partner_id",
    {"partner_id": None, "name": None, "type": None, "country": None, "status": None,
     "tier": None, "version": None, "joined_at": None, "last_event_at": None,
     "activated_at": None},
    newer=_SNAPSHOT,
    # least() skips nulls: the first activation seen stays.
    always={"joined_at": "least(t.joined_at, excluded.joined_at)",
            "activated_at": "least(t.activated_at, excluded.activated_at)"})


@projection
async def record_partner_snapshot(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PartnerCreatedV1 | PartnerUpdatedV1 | PartnerStatusChangedV1
                      | PartnerTierChangedV1)
    partner = payload.partner
    await _RECORD(session, partner_id=partner.id, name=partner.name, type=partner.type,
                  country=partner.country[:2], status=partner.status, tier=partner.tier,
                  version=partner.version, joined_at=event.time, last_event_at=event.time,
                  activated_at=event.time if partner.status == "active" else None)


async def onboarding_completed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, OnboardingCompletedV1)
    await session.execute(text(
        "UPDATE partner_directory SET onboarding_completed_at = "
        "least(onboarding_completed_at, :at) WHERE partner_id = :partner"),
        {"at": payload.completed_at, "partner": payload.partner_id})


async def certification_earned(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CertificationEarnedV1)
    await session.execute(text(
        "INSERT INTO certifications (certification_id, partner_id, code, earned_on, "
        "expires_on, source_event_id) VALUES (:id, :partner, :code, :earned, :expires, "
        ":event) ON CONFLICT (certification_id) DO NOTHING"),
        {"id": payload.certification_id, "partner": payload.partner_id,
         "code": payload.code[:100], "earned": payload.earned_on,
         "expires": payload.expires_on, "event": event.id})


async def certification_expired(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, CertificationExpiredV1)
    await session.execute(text(
        "UPDATE certifications SET expired_on = least(expired_on, :on) "
        "WHERE certification_id = :id"), {"on": payload.expired_on,
                                          "id": payload.certification_id})


HANDLERS: dict[str, Handler] = {
    **{model.event_type: record_partner_snapshot
       for model in (PartnerCreatedV1, PartnerUpdatedV1, PartnerStatusChangedV1,
                     PartnerTierChangedV1)},
    OnboardingCompletedV1.event_type: onboarding_completed,
    CertificationEarnedV1.event_type: certification_earned,
    CertificationExpiredV1.event_type: certification_expired,
}
