"""Partner activity: its last deal registered, last certification earned and last API call,
its time to first deal, and the inactivity flag raised by a periodic job when all of them go
quiet for the programme policy's number of days.

Event facts carry the event's time and are merged by it (the newest last, the earliest first
deal), so replays and out-of-order deliveries leave the same values.
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerInactivityFlaggedV1
from prm_partners.activity.models import PartnerActivity, ProgrammePolicy
from prm_partners.activity.schemas import (
    ActivityCertification,
    ActivityDeal,
    InactivityFlag,
    PartnerActivityOut,
    ProgrammePolicyIn,
    TimeToFirstDeal,
)
from prm_partners.declaration import PARTNERS_READ, PROGRAMME_READ, PROGRAMME_WRITE
from prm_partners.partners import repository as partners
from prm_partners.partners import service as partner_service
from prm_partners.partners.models import Partner
from prm_platform.http import check_if_match
from prm_platform.problems import NotFound
from prm_platform.security import Principal

# Each upsert writes only for a partner this service knows (an event about another is
# dropped, not an error) and keeps the newer value by time, ties broken by id.
_DEAL = text("""
    INSERT INTO partner_activity AS a (partner_id, last_deal_id, last_deal_registered_at,
                                       first_deal_id, first_deal_registered_at, updated_at)
    SELECT id, :deal, :at, :deal, :at, now() FROM partners WHERE id = :partner
    ON CONFLICT (partner_id) DO UPDATE SET
      last_deal_id = CASE WHEN a.last_deal_registered_at IS NULL
          OR (excluded.last_deal_registered_at, excluded.last_deal_id)
             > (a.last_deal_registered_at, a.last_deal_id)
        THEN excluded.last_deal_id ELSE a.last_deal_id END,
      last_deal_registered_at = GREATEST(a.last_deal_registered_at,
                                         excluded.last_deal_registered_at),
      first_deal_id = CASE WHEN a.first_deal_registered_at IS NULL
          OR (excluded.first_deal_registered_at, excluded.first_deal_id)
             < (a.first_deal_registered_at, a.first_deal_id)
        THEN excluded.first_deal_id ELSE a.first_deal_id END,
      first_deal_registered_at = LEAST(a.first_deal_registered_at,
                                       excluded.first_deal_registered_at),
      updated_at = excluded.updated_at
""")
_CERTIFICATION = text("""
    INSERT INTO partner_activity AS a (partner_id, last_certification_code,
                                       last_certification_earned_at, updated_at)
    SELECT id, :code, :at, now() FROM partners WHERE id = :partner
    ON CONFLICT (partner_id) DO UPDATE SET
      last_certification_code = excluded.last_certification_code,
      last_certification_earned_at = excluded.last_certification_earned_at,
      updated_at = excluded.updated_at
    WHERE a.last_certification_earned_at IS NULL
       OR (excluded.last_certification_earned_at, excluded.last_certification_code)
          > (a.last_certification_earned_at, a.last_certification_code)
""")
# At most one write an hour per partner, however often its key calls.
API_CALL_RESOLUTION = dt.timedelta(hours=1)
_API_CALL = text("""
    INSERT INTO partner_activity AS a (partner_id, last_api_call_at, updated_at)
    SELECT id, :at, :at FROM partners WHERE id = :partner
    ON CONFLICT (partner_id) DO UPDATE SET
      last_api_call_at = excluded.last_api_call_at, updated_at = excluded.updated_at
    WHERE a.last_api_call_at IS NULL
       OR a.last_api_call_at < excluded.last_api_call_at - make_interval(secs => :resolution)
""")
# An active partner's latest sign of life: its activity, else when it became active.
_SINCE = ("GREATEST(a.last_deal_registered_at, a.last_certification_earned_at, "
          "a.last_api_call_at, coalesce(p.status_changed_at, p.activated_at, p.created_at))")
_INACTIVE = text(f"""
    SELECT p.id AS partner_id,
           GREATEST(a.last_deal_registered_at, a.last_certification_earned_at,
                    a.last_api_call_at) AS last_activity_at,
           {_SINCE} AS since
    FROM partners p LEFT JOIN partner_activity a ON a.partner_id = p.id
    WHERE p.status = 'active'
      AND {_SINCE} < CAST(:now AS timestamptz) - make_interval(days => :days)
      AND (a.inactive_since IS NULL OR a.inactive_since < {_SINCE})
    ORDER BY p.id
    LIMIT :batch
    FOR NO KEY UPDATE OF p SKIP LOCKED
""")
_FLAG = text("""
    INSERT INTO partner_activity AS a (partner_id, inactivity_flagged_at, inactive_since,
                                       updated_at)
    VALUES (:partner, :now, :since, :now)
    ON CONFLICT (partner_id) DO UPDATE SET
      inactivity_flagged_at = excluded.inactivity_flagged_at,
      inactive_since = excluded.inactive_since, updated_at = excluded.updated_at
""")


async def record_deal(session: AsyncSession, partner_id: uuid.UUID, deal_id: uuid.UUID,
                      at: dt.datetime) -> None:
    await session.execute(_DEAL, {"partner": partner_id, "deal": deal_id, "at": at})


async def record_certification(session: AsyncSession, partner_id: uuid.UUID, code: str,
                               at: dt.datetime) -> None:
    await session.execute(_CERTIFICATION, {"partner": partner_id, "code": code[:100],
                                           "at": at})


async def record_api_call(session: AsyncSession, partner_id: uuid.UUID, at: dt.datetime
                          ) -> None:
    await session.execute(_API_CALL, {"partner": partner_id, "at": at,
                                      "resolution": API_CALL_RESOLUTION.total_seconds()})


def _latest(*values: dt.datetime | None) -> dt.datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


async def activity_of(session: AsyncSession, principal: Principal, partner_id: uuid.UUID
                      ) -> PartnerActivityOut:
    principal.require(PARTNERS_READ)
    await partner_service.ensure_visible(session, principal, partner_id, "partner")
    partner = await partners.get(session, partner_id)
    if partner is None:
        raise NotFound("partner not found")
    row = await session.get(PartnerActivity, partner_id)
    policy = await _policy(session)
    return _shape(partner, row, policy.inactivity_days)


def _shape(partner: Partner, row: PartnerActivity | None, days: int) -> PartnerActivityOut:
    get: Any = (lambda name: getattr(row, name)) if row is not None else (lambda name: None)
    first_at, activated = get("first_deal_registered_at"), partner.activated_at
    last_activity = _latest(get("last_deal_registered_at"),
                            get("last_certification_earned_at"), get("last_api_call_at"))
    since = _latest(last_activity, partner.status_changed_at or partner.activated_at
                    or partner.created_at)
    inactive_since = get("inactive_since")
    ttfd = None
    if first_at is not None and activated is not None:
        seconds = max(0, int((first_at - activated).total_seconds()))
        ttfd = TimeToFirstDeal(seconds=seconds, days=seconds // 86400)
    return PartnerActivityOut(
        partner_id=partner.id, status=partner.status, activated_at=activated,
        first_deal=ActivityDeal(deal_id=get("first_deal_id"), registered_at=first_at)
        if first_at is not None else None,
        time_to_first_deal=ttfd,
        last_deal=ActivityDeal(deal_id=get("last_deal_id"),
                           registered_at=get("last_deal_registered_at"))
        if get("last_deal_registered_at") is not None else None,
        last_certification=ActivityCertification(code=get("last_certification_code"),
                                             earned_at=get("last_certification_earned_at"))
        if get("last_certification_earned_at") is not None else None,
        last_api_call_at=get("last_api_call_at"),
        last_activity_at=last_activity,
        inactivity=InactivityFlag(
            inactivity_days=days,
            flagged=inactive_since is not None and since is not None
            and inactive_since >= since,
            flagged_at=get("inactivity_flagged_at"), inactive_since=inactive_since))


async def _policy(session: AsyncSession, *, for_update: bool = False) -> ProgrammePolicy:
    query = select(ProgrammePolicy).where(ProgrammePolicy.id == 1)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one()


async def get_policy(session: AsyncSession, principal: Principal) -> ProgrammePolicy:
    principal.require(PROGRAMME_READ)
    return await _policy(session)


async def put_policy(session: AsyncSession, principal: Principal, data: ProgrammePolicyIn,
                     if_match: str | None) -> ProgrammePolicy:
    principal.require(PROGRAMME_WRITE)
    principal.ensure_vendor()
    policy = await _policy(session, for_update=True)
    check_if_match(if_match, policy.version)
    if policy.inactivity_days != data.inactivity_days:
        policy.inactivity_days = data.inactivity_days
        policy.version += 1
        policy.updated_at = dt.datetime.now(dt.UTC)
        policy.updated_by = principal.subject[:200]
        await session.flush()
    return policy


async def flag_inactive(session: AsyncSession, batch: int = 200) -> int:
    """The periodic check: flag each active partner quiet for the policy's days, once per
    quiet stretch (a flagged stretch is skipped until new activity starts another). Locks
    the partners it flags (its event is keyed by them), skipping those another writer holds:
    the next run takes them."""
    days = (await _policy(session)).inactivity_days
    now = dt.datetime.now(dt.UTC)
    rows = (await session.execute(_INACTIVE, {"now": now, "days": days, "batch": batch})).all()
    for row in rows:
        await session.execute(_FLAG, {"partner": row.partner_id, "now": now,
                                      "since": row.since})
        await partner_service.publish(session, row.partner_id, PartnerInactivityFlaggedV1(
            partner_id=row.partner_id, last_activity_at=row.last_activity_at,
            inactive_days=(now - row.since).days))
    return len(rows)
