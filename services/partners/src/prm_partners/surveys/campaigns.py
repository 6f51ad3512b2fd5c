"""Survey campaigns: who is sent which survey, and when. The service sends no e-mail: it decides
who is due a survey, records an invitation and announces it (``prm.partner.survey_requested.v1``
through the outbox), and the vendor's survey tool, subscribed by a webhook, sends it.

An invitation is unique per (campaign, contact, cycle): the cycle is a scheduled campaign's
period (every ``every_days`` days from its creation) or the event that triggered it (the
onboarding plan completed, the payout batch paid). A replayed event, a job run twice or two
replicas at once find the row there and invite no one again. The quiet period (no invitation
of the contact by any campaign within ``min_days_between`` days either side) is checked under
a per-contact advisory lock, so two campaigns inviting one contact at once cannot both pass.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerSurveyRequestedV1
from prm_partners.declaration import SURVEY_CAMPAIGNS_READ, SURVEY_CAMPAIGNS_WRITE
from prm_partners.partners.service import publish
from prm_partners.surveys.listing import SURVEY_CAMPAIGNS
from prm_partners.surveys.models import SurveyCampaign
from prm_partners.surveys.schemas import (
    CampaignEvent,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignTrigger,
    check_trigger,
)
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.problems import NotFound, Unprocessable, field_error
from prm_platform.security import Principal

# Invitations made or sent per job run, at most (the job runs again at once if it did this many).
BATCH = 500
REQUESTED = PartnerSurveyRequestedV1.event_type


def _vendor(principal: Principal, scope: str) -> None:
    principal.require(scope)
    principal.ensure_vendor()


# -- the campaigns -----------------------------------------------------------------------------

async def create(session: AsyncSession, principal: Principal, data: CampaignIn
                 ) -> SurveyCampaign:
    _vendor(principal, SURVEY_CAMPAIGNS_WRITE)
    now = dt.datetime.now(dt.UTC)
    values = data.model_dump(mode="json")
    campaign = SurveyCampaign(id=new_id(), **values, version=1, created_at=now, updated_at=now)
    session.add(campaign)
    await session.flush()
    return campaign


async def get(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *,
              for_update: bool = False) -> SurveyCampaign:
    _vendor(principal, SURVEY_CAMPAIGNS_READ)
    query = select(SurveyCampaign).where(SurveyCampaign.id == campaign_id)
    if for_update:
        query = query.with_for_update()
    campaign = (await session.execute(query)).scalar_one_or_none()
    if campaign is None:
        raise NotFound("survey campaign not found")
    return campaign


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[SurveyCampaign], str | None, int | None]:
    _vendor(principal, SURVEY_CAMPAIGNS_READ)
    return await SURVEY_CAMPAIGNS.page(session, select(SurveyCampaign), query)


async def update(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID,
                 data: CampaignPatch, if_match: str | None) -> SurveyCampaign:
    _vendor(principal, SURVEY_CAMPAIGNS_WRITE)
    campaign = await get(session, principal, campaign_id, for_update=True)
    check_if_match(if_match, campaign.version)
    sent = data.model_dump(mode="json", exclude_unset=True)
    if sent.get("trigger") == CampaignTrigger.schedule:
        sent.setdefault("event", None)  # a campaign moved to a schedule follows no event
    elif sent.get("trigger") == CampaignTrigger.event:
        sent.setdefault("every_days", None)
    merged = {key: sent.get(key, getattr(campaign, key))
              for key in ("trigger", "every_days", "event")}
    if (problem := check_trigger(**merged)) is not None:
        raise Unprocessable(problem, errors=[field_error("body.trigger", problem)])
    changes = {k: v for k, v in sent.items() if getattr(campaign, k) != v}
    if not changes:
        return campaign
    for key, value in changes.items():
        setattr(campaign, key, value)
    campaign.version += 1
    campaign.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return campaign


_COUNTS = text("""
    SELECT i.campaign_id,
           count(*) FILTER (WHERE i.status = 'sent') AS invited,
           count(*) FILTER (WHERE i.status = 'pending') AS pending,
           count(*) FILTER (WHERE i.status = 'sent' AND EXISTS (
               SELECT 1 FROM survey_responses r WHERE r.invitation_id = i.id)) AS answered
    FROM survey_invitations i
    WHERE i.campaign_id = ANY(CAST(:ids AS uuid[]))
    GROUP BY i.campaign_id
""")


async def outs(session: AsyncSession, campaigns: Sequence[SurveyCampaign]) -> list[CampaignOut]:
    """The campaigns as answered, each with its invitations' counts (one query for them
    all)."""
    counts = {row.campaign_id: row for row in (await session.execute(
        _COUNTS, {"ids": [c.id for c in campaigns]})).all()} if campaigns else {}
    found = []
    for campaign in campaigns:
        row = counts.get(campaign.id)
        extra: dict[str, Any] = ({"invited": row.invited, "pending": row.pending,
                                  "answered": row.answered} if row is not None else {})
        found.append(CampaignOut.model_validate(
            {**{k: getattr(campaign, k) for k in CampaignOut.model_fields if k not in
                ("invited", "pending", "answered")}, **extra}))
    return found


# -- inviting ----------------------------------------------------------------------------------

# The contacts a campaign would invite now: not erased or deleted, with an address, holding one
# of its roles, at a partner its filters take; none invited by any campaign within the quiet
# period either side of the new invitation's time, nor by this campaign in this cycle.
_CANDIDATES = """
    FROM contacts c JOIN partners p ON p.id = c.partner_id
    WHERE c.erased_at IS NULL AND c.deleted_at IS NULL AND c.email IS NOT NULL
      AND c.roles && CAST(:roles AS varchar[])
      AND p.status = ANY(CAST(:statuses AS varchar[]))
      AND (cardinality(CAST(:types AS varchar[])) = 0
           OR p.type = ANY(CAST(:types AS varchar[])))
      AND (cardinality(CAST(:tiers AS varchar[])) = 0
           OR p.tier = ANY(CAST(:tiers AS varchar[])))
      AND (CAST(:partner_id AS uuid) IS NULL OR c.partner_id = CAST(:partner_id AS uuid))
      AND NOT EXISTS (
          SELECT 1 FROM survey_invitations q
          WHERE q.contact_id = c.id AND q.status <> 'withdrawn'
            AND q.due_at > CAST(:due_at AS timestamptz) - make_interval(days => :quiet)
            AND q.due_at < CAST(:due_at AS timestamptz) + make_interval(days => :quiet))
      AND NOT EXISTS (
          SELECT 1 FROM survey_invitations s
          WHERE s.campaign_id = CAST(:campaign_id AS uuid) AND s.contact_id = c.id
            AND s.cycle = CAST(:cycle AS varchar))
"""
_FIND = text(f"SELECT c.id {_CANDIDATES} ORDER BY c.id LIMIT :limit")
# Blocking (an event's handler must invite) or skipping (the job comes back next run).
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('survey-contact:' || id, 0)) "
             "FROM (SELECT unnest(CAST(:ids AS text[])) AS id ORDER BY 1) AS locked")
_TRY_LOCK = text("SELECT id FROM unnest(CAST(:ids AS text[])) AS id "
                 "WHERE pg_try_advisory_xact_lock(hashtextextended('survey-contact:' || id, 0))")
# Checked again once the contacts are locked (a statement of its own, so it sees what the
# lock's holder committed); a row already there for the cycle is left alone.
_INSERT = text(f"""
    INSERT INTO survey_invitations (id, campaign_id, partner_id, contact_id, kind, cycle,
                                    trigger, status, due_at, sent_at, created_at)
    SELECT (CAST(:ids AS uuid[]))[row_number() OVER (ORDER BY c.id)],
           CAST(:campaign_id AS uuid), c.partner_id, c.id, CAST(:kind AS varchar),
           CAST(:cycle AS varchar), CAST(:trigger AS varchar), CAST(:status AS varchar),
           CAST(:due_at AS timestamptz), CAST(:sent_at AS timestamptz), CAST(:now AS timestamptz)
    {_CANDIDATES} AND c.id = ANY(CAST(:locked AS uuid[]))
    ON CONFLICT (campaign_id, contact_id, cycle) DO NOTHING
    RETURNING id, partner_id, contact_id, status
""")


def _trigger_name(campaign: SurveyCampaign) -> str:
    return campaign.event if campaign.event is not None else campaign.trigger


async def invite(session: AsyncSession, campaign: SurveyCampaign, *, cycle: str,
                 due_at: dt.datetime, now: dt.datetime, partner_id: uuid.UUID | None = None,
                 limit: int = BATCH, wait: bool = True) -> int:
    """Invite the contacts ``campaign`` takes (of ``partner_id`` only, if given) for ``cycle``,
    due at ``due_at``: sent at once (and announced) if that is not after ``now``, else
    pending. ``wait`` False skips the contacts another transaction is inviting (the job
    comes back for them). How many it invited."""
    params: dict[str, Any] = {
        "roles": campaign.contact_roles, "statuses": campaign.partner_statuses,
        "types": campaign.partner_types, "tiers": campaign.partner_tiers,
        "partner_id": partner_id, "due_at": due_at, "quiet": campaign.min_days_between,
        "campaign_id": campaign.id, "cycle": cycle, "limit": limit}
    found = [str(i) for i in (await session.execute(_FIND, params)).scalars()]
    if not found:
        return 0
    if wait:
        await session.execute(_LOCK, {"ids": found})
        locked = found
    else:
        locked = list((await session.execute(_TRY_LOCK, {"ids": found})).scalars())
    if not locked:
        return 0
    rows = (await session.execute(_INSERT, {
        **params, "ids": [new_id() for _ in locked], "locked": locked, "kind": campaign.kind,
        "trigger": _trigger_name(campaign), "now": now,
        "status": "sent" if due_at <= now else "pending",
        "sent_at": now if due_at <= now else None})).all()
    await _announce(session, [(r.id, campaign.id, r.partner_id, r.contact_id, campaign.kind,
                               _trigger_name(campaign))
                              for r in rows if r.status == "sent"], now)
    return len(rows)


async def _announce(session: AsyncSession,
                    sent: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID, str, str]],
                    now: dt.datetime) -> None:
    """One ``prm.partner.survey_requested.v1`` per invitation sent, with its contact's
    address (what the survey tool sends it to)."""
    if not sent:
        return
    emails = {row.id: row.email for row in (await session.execute(text(
        "SELECT id, email FROM contacts WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": [s[3] for s in sent]})).all()}
    for invitation_id, campaign_id, partner_id, contact_id, kind, trigger in sent:
        await publish(session, partner_id, PartnerSurveyRequestedV1(
            invitation_id=invitation_id, campaign_id=campaign_id, partner_id=partner_id,
            contact_id=contact_id, kind=kind, email=emails.get(contact_id), trigger=trigger,
            requested_at=now))


def schedule_cycle(campaign: SurveyCampaign, now: dt.datetime) -> str:
    """A scheduled campaign's period now: every ``every_days`` days from its creation (the
    period's length is part of it, so a changed interval starts afresh; the quiet period
    still keeps the contacts just invited from being invited again)."""
    assert campaign.every_days is not None
    elapsed = (now.date() - campaign.created_at.astimezone(dt.UTC).date()).days
    return f"every-{campaign.every_days}:{elapsed // campaign.every_days}"


async def on_event(session: AsyncSession, event: CampaignEvent, partner_id: uuid.UUID,
                   subject: uuid.UUID, occurred_at: dt.datetime) -> int:
    """A partner's onboarding completed or payout paid (``subject``: its plan or batch): the
    active campaigns following it invite the partner's contacts, once per subject however
    often the event arrives. Events that happened before a campaign was made are not
    its."""
    now = dt.datetime.now(dt.UTC)
    campaigns = (await session.execute(select(SurveyCampaign).where(
        SurveyCampaign.active.is_(True), SurveyCampaign.trigger == CampaignTrigger.event.value,
        SurveyCampaign.event == event.value, SurveyCampaign.created_at <= occurred_at
    ).order_by(SurveyCampaign.id))).scalars().all()
    invited = 0
    for campaign in campaigns:
        invited += await invite(
            session, campaign, cycle=f"{event.value}:{subject}", partner_id=partner_id,
            due_at=occurred_at + dt.timedelta(days=campaign.delay_days), now=now)
    return invited


_DUE = text("""
    SELECT i.id, i.campaign_id, i.partner_id, i.contact_id, i.kind, i.trigger,
           c.erased_at IS NULL AND c.deleted_at IS NULL AND c.email IS NOT NULL AS reachable
    FROM survey_invitations i JOIN contacts c ON c.id = i.contact_id
    WHERE i.status = 'pending' AND i.due_at <= :now
    ORDER BY i.due_at, i.id LIMIT :limit
    FOR UPDATE OF i SKIP LOCKED
""")


async def send_due(session: AsyncSession, now: dt.datetime, limit: int = BATCH) -> int:
    """The pending invitations whose delay is over: sent and announced, or withdrawn if their
    contact was erased or deleted meanwhile. Rows another replica holds are skipped."""
    rows = (await session.execute(_DUE, {"now": now, "limit": limit})).all()
    if not rows:
        return 0
    for status, sent_at, chosen in (("sent", now, [r for r in rows if r.reachable]),
                                    ("withdrawn", None, [r for r in rows if not r.reachable])):
        if chosen:
            await session.execute(text(
                "UPDATE survey_invitations SET status = :status, sent_at = :sent_at "
                "WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"status": status, "sent_at": sent_at, "ids": [r.id for r in chosen]})
    await _announce(session, [(r.id, r.campaign_id, r.partner_id, r.contact_id, r.kind,
                               r.trigger) for r in rows if r.reachable], now)
    return len(rows)


async def run_due(session: AsyncSession) -> int:
    """The scheduler's job: the pending invitations now due, then each active scheduled
    campaign's contacts not yet invited in its current period; at most ``BATCH`` in all (it
    is run again at once if it did that many)."""
    now = dt.datetime.now(dt.UTC)
    done = await send_due(session, now)
    campaigns = (await session.execute(select(SurveyCampaign).where(
        SurveyCampaign.active.is_(True),
        SurveyCampaign.trigger == CampaignTrigger.schedule.value,
    ).order_by(SurveyCampaign.id))).scalars().all()
    for campaign in campaigns:
        if done >= BATCH:
            break
        done += await invite(session, campaign, cycle=schedule_cycle(campaign, now),
                             due_at=now, now=now, limit=BATCH - done, wait=False)
    return done


# -- erasure -----------------------------------------------------------------------------------

async def forget_contact(session: AsyncSession, contact_id: uuid.UUID) -> list[str]:
    """A contact's erasure, in its transaction: its pending invitations are withdrawn (an
    erased person is not surveyed), and the invitation events still kept in the outbox
    (sent or not yet) lose the e-mail address. The invitations stay, naming the contact's
    tombstone, so the campaigns' counts hold. What it erased, for the contact's audit."""
    withdrawn = (await session.execute(text(
        "UPDATE survey_invitations SET status = 'withdrawn' "
        "WHERE contact_id = :contact AND status = 'pending' RETURNING id"),
        {"contact": contact_id})).all()
    blanked = (await session.execute(text(
        "UPDATE outbox SET envelope = jsonb_set(envelope, '{data,email}', 'null') "
        "WHERE event_type = :type AND envelope -> 'data' ->> 'contact_id' = :contact "
        "AND envelope -> 'data' ->> 'email' IS NOT NULL RETURNING seq"),
        {"type": REQUESTED, "contact": str(contact_id)})).all()
    return ([*(["survey_invitation"] if withdrawn else []),
             *(["survey_invitation_email"] if blanked else [])])
