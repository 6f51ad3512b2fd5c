"""The dated facts partner health is computed from, kept from the contexts' events.

One row per fact, keyed by its kind and the record it is about (a deal, a certification, a
survey answer...), so that a redelivery or a replay writes the same row. Every fact also marks
its partner due for scoring (``health_due``) in the same statement: the scoring job rescored
those within a minute, and every partner daily.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    CertificationEarnedV1,
    CertificationExpiredV1,
    DealLostV1,
    DealRegisteredV1,
    DealWinReversedV1,
    DealWonV1,
    EnablementResourceUsedV1,
    LearningEnrolmentChangedV1,
    MdfClaimApprovedV1,
    MdfRequestSubmittedV1,
    OnboardingCompletedV1,
    PartnerCreatedV1,
    PartnerSurveyAnsweredV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import projection, write

# The kinds of fact, as the early-warning features read them (risk.FACT_KINDS), and the
# partner's creation, which only anchors "days since activity" for a partner that did nothing.
PARTNER_CREATED = "partner_created"

_FACT = text("""
    WITH fact AS (
        INSERT INTO health_facts AS t (kind, ref_id, partner_id, occurred_on, value, currency,
                                       event_id, recorded_at)
        VALUES (:kind, :ref_id, :partner_id, :occurred_on, :value, :currency, :event_id, now())
        ON CONFLICT (kind, ref_id) DO UPDATE SET
            occurred_on = excluded.occurred_on, value = excluded.value,
            currency = excluded.currency, event_id = excluded.event_id
        WHERE t.event_id IS DISTINCT FROM excluded.event_id
        RETURNING partner_id)
    INSERT INTO health_due (partner_id, since) SELECT partner_id, now() FROM fact
    ON CONFLICT (partner_id) DO NOTHING""")

_FORGET = text("""
    WITH gone AS (DELETE FROM health_facts WHERE kind = :kind AND ref_id = :ref_id
                  RETURNING partner_id)
    INSERT INTO health_due (partner_id, since) SELECT partner_id, now() FROM gone
    ON CONFLICT (partner_id) DO NOTHING""")


async def _record(session: AsyncSession, event: CloudEvent, kind: str, ref_id: Any,
                  partner_id: Any, occurred_on: dt.date, value: Any = None,
                  currency: str | None = None) -> None:
    await write(session, _FACT, {
        "kind": kind, "ref_id": ref_id, "partner_id": partner_id, "occurred_on": occurred_on,
        "value": None if value is None else Decimal(str(value)), "currency": currency,
        "event_id": event.id})


def _day(value: Any, event: CloudEvent) -> dt.date:
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return event.time.date()


async def partner_created(session: AsyncSession, event: CloudEvent) -> None:
    p = event.data["partner"]
    await _record(session, event, PARTNER_CREATED, p["id"], p["id"], _day(None, event))


async def deal_registered(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await _record(session, event, "deal_registered", d["deal_id"], d["partner_id"],
                  _day(None, event))


async def deal_won(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await _record(session, event, "deal_won", d["deal_id"], d["partner_id"],
                  _day(d.get("closed_on"), event), d["amount"]["amount"],
                  d["amount"]["currency"])


async def deal_lost(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await _record(session, event, "deal_lost", d["deal_id"], d["partner_id"],
                  _day(None, event))


async def win_reversed(session: AsyncSession, event: CloudEvent) -> None:
    """A reversed win was never won: its fact goes (a later win records it again)."""
    await session.execute(_FORGET, {"kind": "deal_won", "ref_id": event.data["deal_id"]})


async def certification(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    if event.type == CertificationEarnedV1.event_type:
        await _record(session, event, "certification_earned", d["certification_id"],
                      d["partner_id"], _day(d.get("earned_on"), event))
    else:
        await _record(session, event, "certification_expired", d["certification_id"],
                      d["partner_id"], _day(d.get("expired_on"), event))


async def survey_answered(session: AsyncSession, event: CloudEvent) -> None:
    """An answer is upserted by its id: a survey tool re-sending it with a comment, or a
    changed score, leaves one fact with the newest score."""
    d = event.data
    await _record(session, event, f"survey_{d['kind']}", d["response_id"], d["partner_id"],
                  _day(d.get("answered_at"), event), d["score"])


async def mdf_requested(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await _record(session, event, "mdf_requested", d["request_id"], d["partner_id"],
                  _day(None, event), d["planned_cost"]["amount"], d["planned_cost"]["currency"])


async def claim_approved(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await _record(session, event, "claim_approved", d["claim_id"], d["partner_id"],
                  _day(None, event), d["approved"]["amount"], d["approved"]["currency"])


async def onboarding_completed(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await _record(session, event, "onboarding_completed", d["plan_id"], d["partner_id"],
                  _day(d.get("completed_at"), event))


async def resource_used(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await _record(session, event, "resource_used", d["use_id"], d["partner_id"],
                  _day(d.get("used_at"), event))


async def enrolment_changed(session: AsyncSession, event: CloudEvent) -> None:
    """Only a completed path is a fact (enrolments and progress are not the partner acting)."""
    d = event.data
    if d.get("status") == "completed":
        await _record(session, event, "path_completed", d["enrolment_id"], d["partner_id"],
                      _day(d.get("completed_at"), event))


# A fact's upsert keeps the newest event's (one statement's rows keep their order), so a batch's
# are gathered and sent together; a reversal's delete is not, and sends those before it first.
HANDLERS: Mapping[str, Handler] = {
    PartnerCreatedV1.event_type: projection(partner_created),
    DealRegisteredV1.event_type: projection(deal_registered),
    DealWonV1.event_type: projection(deal_won),
    DealLostV1.event_type: projection(deal_lost),
    DealWinReversedV1.event_type: win_reversed,
    CertificationEarnedV1.event_type: projection(certification),
    CertificationExpiredV1.event_type: projection(certification),
    PartnerSurveyAnsweredV1.event_type: projection(survey_answered),
    MdfRequestSubmittedV1.event_type: projection(mdf_requested),
    MdfClaimApprovedV1.event_type: projection(claim_approved),
    OnboardingCompletedV1.event_type: projection(onboarding_completed),
    EnablementResourceUsedV1.event_type: projection(resource_used),
    LearningEnrolmentChangedV1.event_type: projection(enrolment_changed),
}
