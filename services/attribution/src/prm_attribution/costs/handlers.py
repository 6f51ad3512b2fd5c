"""Projects the programme's costs from ``prm.incentives``: MDF activities (fund requests),
approved MDF claims, rebate and SPIFF accruals and their reversals, and payout batches.

Every row is keyed by the source's own id and moves only with the source's ``version``, so a
redelivered, replayed or reordered event leaves the projection as it was. A cost's date is the
event's own time (the approval of a claim, the accrual), so a replay dates it the same. A
reversal is a negative row of the same kind dated like the accrual it reverses (a deal undone
never cost anything, so the period of its accrual is restated); a true-up that takes money back
has no accrual of its own and is dated by its event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    Amount,
    MdfClaimApprovedV1,
    MdfRequestApprovedV1,
    MdfRequestChange,
    MdfRequestExpiredV1,
    MdfRequestRejectedV1,
    MdfRequestSubmittedV1,
    PayoutApprovedV1,
    PayoutBatchChange,
    PayoutPaidV1,
    RebateAccruedV1,
    RebateReversedV1,
    SpiffAccruedV1,
    SpiffReversedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.money import minor_units
from prm_platform.projections import NewestVersion

# Namespace of the ids of cost rows derived from the incentives' items.
COST_NAMESPACE = uuid.UUID("0193c1d0-7a11-7b00-8000-c0575000c057")


def cost_id(kind: str, source_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(COST_NAMESPACE, f"{kind}:{source_id}")


def to_minor(amount: Amount) -> int:
    """The ledger's exact minor units of a decimal string (never rounded: the incentives
    service writes exactly the currency's decimals)."""
    value = Decimal(amount.amount).scaleb(minor_units(amount.currency))
    if value != value.to_integral_value():
        raise ValueError(f"{amount.amount} {amount.currency} is not whole minor units")
    return int(value)


def _day(event: CloudEvent) -> dt.date:
    return event.time.astimezone(dt.UTC).date()


_ACTIVITY = NewestVersion(
    "mdf_activities", "request_id",
    {c: None for c in ("request_id", "partner_id", "activity_type", "start_date", "end_date",
                       "status", "planned_minor", "currency", "version", "updated_at")},
    newer=("status", "planned_minor", "updated_at", "version"),
    # Only the submission carries the activity: whatever the order, keep what it said.
    always={c: f"coalesce(t.{c}, excluded.{c})"
            for c in ("activity_type", "start_date", "end_date")})


async def mdf_request_changed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, MdfRequestChange)
    submitted = payload if isinstance(payload, MdfRequestSubmittedV1) else None
    await _ACTIVITY(session, request_id=payload.request_id, partner_id=payload.partner_id,
                    activity_type=submitted.activity_type if submitted else None,
                    start_date=submitted.start_date if submitted else None,
                    end_date=submitted.end_date if submitted else None,
                    status=payload.status, planned_minor=to_minor(payload.planned_cost),
                    currency=payload.planned_cost.currency, version=payload.version,
                    updated_at=event.time)


_COST = NewestVersion(
    "programme_costs", "id",
    {c: None for c in ("id", "kind", "partner_id", "deal_id", "mdf_request_id", "source_id",
                       "amount_minor", "currency", "incurred_on", "version",
                       "source_event_id")},
    newer=("amount_minor", "currency", "incurred_on", "deal_id", "source_event_id", "version"))


async def _cost(session: AsyncSession, event: CloudEvent, *, kind: str,
                source_id: uuid.UUID, partner_id: uuid.UUID, amount: Amount, version: int,
                deal_id: uuid.UUID | None = None, mdf_request_id: uuid.UUID | None = None,
                reversal: bool = False) -> None:
    row_id = cost_id(f"{kind}-reversal" if reversal else kind, source_id)
    incurred_on = _day(event)
    if reversal:
        reversed_on = (await session.execute(text(
            "SELECT incurred_on FROM programme_costs WHERE id = :id"),
            {"id": cost_id(kind, source_id)})).scalar_one_or_none()
        incurred_on = reversed_on or incurred_on
    await _COST(session, id=row_id, kind=kind, partner_id=partner_id, deal_id=deal_id,
                mdf_request_id=mdf_request_id, source_id=source_id,
                amount_minor=-to_minor(amount) if reversal else to_minor(amount),
                currency=amount.currency, incurred_on=incurred_on, version=version,
                source_event_id=event.id)


async def mdf_claim_approved(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, MdfClaimApprovedV1)
    await _cost(session, event, kind="mdf", source_id=payload.claim_id,
                partner_id=payload.partner_id, amount=payload.approved,
                version=payload.version, mdf_request_id=payload.request_id)


# Accruals and their reversals, by event type: the cost's kind, and whether it takes back.
_ACCRUALS: dict[str, tuple[str, bool]] = {
    RebateAccruedV1.event_type: ("rebate", False), RebateReversedV1.event_type: ("rebate", True),
    SpiffAccruedV1.event_type: ("spiff", False), SpiffReversedV1.event_type: ("spiff", True)}


async def accrual_changed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, RebateAccruedV1 | RebateReversedV1 | SpiffAccruedV1
                      | SpiffReversedV1)
    kind, reversal = _ACCRUALS[event.type]
    await _cost(session, event, kind=kind, source_id=payload.accrual_id,
                partner_id=payload.partner_id, amount=payload.amount, version=payload.version,
                deal_id=payload.deal_id, reversal=reversal)


_PAYOUT = NewestVersion(
    "payouts", "batch_id",
    {c: None for c in ("batch_id", "partner_id", "total_minor", "currency", "status",
                       "paid_on", "payment_reference", "version")},
    newer=("total_minor", "currency", "status", "version"),
    always={c: f"coalesce(t.{c}, excluded.{c})" for c in ("paid_on", "payment_reference")})


async def payout_changed(session: AsyncSession, event: CloudEvent) -> None:
    payload = event.payload()
    assert isinstance(payload, PayoutBatchChange)
    paid = payload if isinstance(payload, PayoutPaidV1) else None
    await _PAYOUT(session, batch_id=payload.batch_id, partner_id=payload.partner_id,
                  total_minor=to_minor(payload.total), currency=payload.total.currency,
                  status=payload.status, paid_on=paid.paid_on if paid else None,
                  payment_reference=paid.payment_reference if paid else None,
                  version=payload.version)


HANDLERS: dict[str, Handler] = {
    **{model.event_type: mdf_request_changed
       for model in (MdfRequestSubmittedV1, MdfRequestApprovedV1, MdfRequestRejectedV1,
                     MdfRequestExpiredV1)},
    MdfClaimApprovedV1.event_type: mdf_claim_approved,
    **dict.fromkeys(_ACCRUALS, accrual_changed),
    PayoutApprovedV1.event_type: payout_changed,
    PayoutPaidV1.event_type: payout_changed,
}
