"""The partner home's figures and the search entries, kept from the contexts' events.

Every write is an upsert that ends the same whatever order a record's events arrive in, and
however often each arrives: snapshots and statuses keep the newest ``version``; a field only
some events carry keeps the version of the event that set it (a deal's amount, its protection
end); facts that never change (a customer's name, an accrual) are taken once. So a replay of
the topics from the start rebuilds the same answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    CertificationEarnedV1,
    CertificationExpiredV1,
    ContactChangedV1,
    DealApprovedV1,
    DealAssignedV1,
    DealCollaboratorAddedV1,
    DealExpiredV1,
    DealExtendedV1,
    DealExtensionRequestedV1,
    DealLostV1,
    DealProtectionEndingV1,
    DealRegisteredV1,
    DealRejectedV1,
    DealUpdatedV1,
    DealWinReversedV1,
    DealWonV1,
    DirectAccountChangedV1,
    MdfAllocationCreatedV1,
    MdfClaimApprovedV1,
    MdfClaimRejectedV1,
    MdfClaimSubmittedV1,
    MdfRequestApprovedV1,
    MdfRequestChangesRequestedV1,
    MdfRequestExpiredV1,
    MdfRequestRejectedV1,
    MdfRequestSubmittedV1,
    OnboardingCompletedV1,
    OnboardingProgressV1,
    PartnerCreatedV1,
    PartnerStatusChangedV1,
    PartnerTierChangedV1,
    PartnerTierProgressV1,
    PartnerUpdatedV1,
    PayoutApprovedV1,
    PayoutPaidV1,
    RebateAccruedV1,
    RebateReversedV1,
    SpiffAccruedV1,
    SpiffReversedV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import projection, write


def _newer(columns: str) -> str:
    return ", ".join(f"{c} = CASE WHEN excluded.version > t.version THEN excluded.{c} "
                     f"ELSE t.{c} END" for c in columns.split())


_PARTNER_SQL = f"""
    INSERT INTO partner_cards AS t (partner_id, name, type, country, status, tier, version, as_of)
    VALUES (:partner_id, :name, :type, :country, :status, :tier, :version, :as_of)
    ON CONFLICT (partner_id) DO UPDATE SET {_newer("name type country status tier as_of")},
        version = greatest(t.version, excluded.version)"""

_ENTRY = text(f"""
    INSERT INTO search_entries AS t (kind, id, partner_id, title, subtitle, status, version,
                                     updated_at)
    VALUES (:kind, :id, :partner_id, :title, :subtitle, :status, :version, :updated_at)
    ON CONFLICT (kind, id) DO UPDATE SET {_newer("title subtitle status updated_at")},
        version = greatest(t.version, excluded.version)""")

# A partner's card and its search entry: one statement (the card's upsert in a CTE).
_PARTNER_ENTRY_SQL = f"""
    INSERT INTO search_entries AS t (kind, id, partner_id, title, subtitle, status, version,
                                     updated_at)
    VALUES ('partner', :partner_id, :partner_id, :name, :subtitle, :status, :version, :as_of)
    ON CONFLICT (kind, id) DO UPDATE SET {_newer("title subtitle status updated_at")},
        version = greatest(t.version, excluded.version)"""
_PARTNER = text(f"WITH card AS ({_PARTNER_SQL}) {_PARTNER_ENTRY_SQL}")


async def _entry(session: AsyncSession, **values: Any) -> None:
    await write(session, _ENTRY, values)


def _partner_values(event: CloudEvent) -> dict[str, Any]:
    p = event.data["partner"]
    return {"partner_id": p["id"], "name": str(p["name"]), "type": str(p["type"]),
            "country": str(p["country"]), "status": str(p["status"]), "tier": p.get("tier"),
            "version": int(p["version"]), "as_of": event.time,
            "subtitle": " ".join(str(v) for v in (p["type"], p["country"], p.get("tier"))
                                 if v)}


async def partner_snapshot(session: AsyncSession, event: CloudEvent) -> None:
    await write(session, _PARTNER, _partner_values(event))


# A tier change: the partner's card, its search entry and the change, in one statement.
_TIER = text(f"""
    WITH card AS ({_PARTNER_SQL}), entry AS ({_PARTNER_ENTRY_SQL})
    INSERT INTO tier_changes AS t (partner_id, tier, previous_tier, direction, criteria, reason,
                                   changed_at, version)
    VALUES (:partner_id, :new_tier, :previous_tier, :direction, :criteria, :reason, :as_of,
            :version)
    ON CONFLICT (partner_id) DO UPDATE SET
        {_newer("tier previous_tier direction criteria reason changed_at")},
        version = greatest(t.version, excluded.version)""")


async def tier_changed(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    values = _partner_values(event)
    values.update({"new_tier": d.get("tier"), "previous_tier": d.get("previous_tier"),
                   "direction": str(d["direction"]),
                   "criteria": orjson.dumps(d.get("criteria") or {}).decode(),
                   "reason": str(d["reason"])})
    await write(session, _TIER, values)


_ONBOARDING = text("""
    INSERT INTO onboarding AS t (partner_id, plan_id, completed_at, as_of)
    VALUES (:partner_id, :plan_id, :completed_at, :as_of)
    ON CONFLICT (partner_id) DO UPDATE SET
        plan_id = CASE WHEN excluded.completed_at > t.completed_at THEN excluded.plan_id
                  ELSE t.plan_id END,
        completed_at = greatest(t.completed_at, excluded.completed_at),
        as_of = greatest(t.as_of, excluded.as_of)""")


async def onboarding_completed(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await write(session, _ONBOARDING, {
        "partner_id": d["partner_id"], "plan_id": d["plan_id"],
         "completed_at": _time(d["completed_at"]), "as_of": event.time})


def _progress(table: str) -> Handler:
    """A handler keeping the partners service's newest progress event of a partner whole."""
    statement = text(f"""
        INSERT INTO {table} AS t (partner_id, progress, version, as_of)
        VALUES (:partner_id, CAST(:progress AS jsonb), :version, :as_of)
        ON CONFLICT (partner_id) DO UPDATE SET {_newer("progress as_of")},
            version = greatest(t.version, excluded.version)""")

    async def remember(session: AsyncSession, event: CloudEvent) -> None:
        d = event.data
        await write(session, statement, {
            "partner_id": d["partner_id"], "progress": orjson.dumps(d).decode(),
            "version": int(d["version"]), "as_of": event.time})
    return remember


tier_progress = _progress("tier_progress")
onboarding_progress = _progress("onboarding_progress")


_CERTIFICATION = text("""
    INSERT INTO certifications AS t (certification_id, partner_id, code, contact_id, earned_on,
                                     expires_on, expired_on, as_of)
    VALUES (:certification_id, :partner_id, :code, :contact_id, :earned_on, :expires_on,
            :expired_on, :as_of)
    ON CONFLICT (certification_id) DO UPDATE SET
        contact_id = coalesce(t.contact_id, excluded.contact_id),
        earned_on = coalesce(t.earned_on, excluded.earned_on),
        expires_on = coalesce(t.expires_on, excluded.expires_on),
        expired_on = coalesce(t.expired_on, excluded.expired_on),
        as_of = greatest(t.as_of, excluded.as_of)""")


async def certification(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await write(session, _CERTIFICATION, {
        "certification_id": d["certification_id"], "partner_id": d["partner_id"],
        "code": str(d["code"]), "contact_id": d.get("contact_id"),
        "earned_on": _date(d.get("earned_on")), "expires_on": _date(d.get("expires_on")),
        "expired_on": _date(d.get("expired_on")), "as_of": event.time})


# The deal's row, and its search entry following the row as the upsert left it (which any order
# of events leaves the same) once the registration named the customer: one statement.
_DEAL = text(f"""
    WITH deal AS (
    INSERT INTO deals AS t (deal_id, partner_id, customer_name, customer_domain, status, version,
                            amount, currency, amount_version, protected_until,
                            protected_version, as_of)
    VALUES (:deal_id, :partner_id, :customer_name, :customer_domain, :status, :version,
            :amount, :currency, :amount_version, :protected_until, :protected_version, :as_of)
    ON CONFLICT (deal_id) DO UPDATE SET
        customer_name = coalesce(t.customer_name, excluded.customer_name),
        customer_domain = coalesce(t.customer_domain, excluded.customer_domain),
        {_newer("status")},
        version = greatest(t.version, excluded.version),
        amount = CASE WHEN excluded.amount_version > t.amount_version THEN excluded.amount
                 ELSE t.amount END,
        currency = CASE WHEN excluded.amount_version > t.amount_version THEN excluded.currency
                   ELSE t.currency END,
        amount_version = greatest(t.amount_version, excluded.amount_version),
        protected_until = CASE WHEN excluded.protected_version > t.protected_version
                          THEN excluded.protected_until ELSE t.protected_until END,
        protected_version = greatest(t.protected_version, excluded.protected_version),
        as_of = greatest(t.as_of, excluded.as_of)
    RETURNING deal_id, partner_id, customer_name, customer_domain, status, version, as_of)
    INSERT INTO search_entries AS t (kind, id, partner_id, title, subtitle, status, version,
                                     updated_at)
    SELECT 'deal', deal_id, partner_id, customer_name, coalesce(customer_domain, ''), status,
           version, as_of FROM deal WHERE customer_name IS NOT NULL
    ON CONFLICT (kind, id) DO UPDATE SET title = excluded.title, subtitle = excluded.subtitle,
        status = excluded.status, version = excluded.version, updated_at = excluded.updated_at""")


async def deal(session: AsyncSession, event: CloudEvent) -> None:
    """Any deal event: its status and version; the amount and protection end where the event
    says them (a win's amount is the won amount; a reversal's says what was reversed, not what
    the deal is worth now, so it is not taken)."""
    d = event.data
    version = int(d["version"])
    customer = d.get("customer") or {}
    amount = d.get("amount") if event.type != DealWinReversedV1.event_type else None
    has_protection = "protected_until" in d
    await write(session, _DEAL, {
        "deal_id": d["deal_id"], "partner_id": d["partner_id"],
        "customer_name": customer.get("name"), "customer_domain": customer.get("domain"),
        "status": str(d["status"]), "version": version,
        "amount": amount["amount"] if amount else None,
        "currency": amount["currency"] if amount else None,
        "amount_version": version if amount else 0,
        "protected_until": _date(d.get("protected_until")) if has_protection else None,
        "protected_version": version if has_protection else 0, "as_of": event.time})


async def direct_account(session: AsyncSession, event: CloudEvent) -> None:
    """The vendor's direct accounts are searched by vendor staff; a removed one stays as a
    removed entry (so that a late older event cannot bring it back) and is never found."""
    d = event.data
    subtitle = " ".join(str(v) for v in (d.get("domain"), d.get("country")) if v)
    await _entry(session, kind="direct_account", id=d["account_id"], partner_id=None,
                 title=str(d["name"]), subtitle=subtitle,
                 status="removed" if d.get("removed") else "active",
                 version=int(d["version"]), updated_at=event.time)


async def contact(session: AsyncSession, event: CloudEvent) -> None:
    """A partner's contact, found by name, e-mail and job title. Deleted or erased, its entry
    keeps nothing of the person (and a late older event cannot bring it back)."""
    d = event.data
    removed = bool(d.get("removed"))
    subtitle = " ".join(str(v) for v in (d.get("email"), d.get("job_title")) if v)
    await _entry(session, kind="contact", id=d["contact_id"], partner_id=d["partner_id"],
                 title="" if removed else str(d.get("name") or ""),
                 subtitle="" if removed else subtitle,
                 status="removed" if removed else "active", version=int(d["version"]),
                 updated_at=event.time)


_ALLOCATION = text("""
    INSERT INTO mdf_allocations (allocation_id, partner_id, amount, currency, as_of)
    VALUES (:allocation_id, :partner_id, :amount, :currency, :as_of)
    ON CONFLICT (allocation_id) DO NOTHING""")


async def allocation_created(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await write(session, _ALLOCATION, {
        "allocation_id": d["allocation_id"], "partner_id": d["partner_id"],
         "amount": d["amount"]["amount"], "currency": d["amount"]["currency"],
         "as_of": event.time})


# The request and its search entry (once the submission named its activity), in one statement.
_REQUEST = text(f"""
    WITH request AS (
    INSERT INTO mdf_requests AS t (request_id, partner_id, allocation_id, status, planned,
                                   currency, activity_type, activity_version, version, as_of)
    VALUES (:request_id, :partner_id, :allocation_id, :status, :planned, :currency,
            :activity_type, :activity_version, :version, :as_of)
    ON CONFLICT (request_id) DO UPDATE SET {_newer("status planned currency")},
        activity_type = CASE WHEN excluded.activity_version > t.activity_version
                        THEN excluded.activity_type ELSE t.activity_type END,
        activity_version = greatest(t.activity_version, excluded.activity_version),
        version = greatest(t.version, excluded.version),
        as_of = greatest(t.as_of, excluded.as_of)
    RETURNING request_id, partner_id, activity_type, planned, currency, status, version, as_of)
    INSERT INTO search_entries AS t (kind, id, partner_id, title, subtitle, status, version,
                                     updated_at)
    SELECT 'mdf_request', request_id, partner_id, activity_type, planned::text || ' ' || currency,
           status, version, as_of FROM request WHERE activity_type IS NOT NULL
    ON CONFLICT (kind, id) DO UPDATE SET title = excluded.title, subtitle = excluded.subtitle,
        status = excluded.status, version = excluded.version, updated_at = excluded.updated_at""")


async def fund_request(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    values = {"request_id": d["request_id"], "partner_id": d["partner_id"],
              "allocation_id": d["allocation_id"], "status": str(d["status"]),
              "planned": d["planned_cost"]["amount"], "currency": d["planned_cost"]["currency"],
              "activity_type": d.get("activity_type"), "version": int(d["version"]),
              "as_of": event.time}
    values["activity_version"] = values["version"] if values["activity_type"] else 0
    await write(session, _REQUEST, values)


_CLAIM = text(f"""
    INSERT INTO mdf_claims AS t (claim_id, request_id, partner_id, status, claimed, approved,
                                 currency, version, as_of)
    VALUES (:claim_id, :request_id, :partner_id, :status, :claimed, :approved, :currency,
            :version, :as_of)
    ON CONFLICT (claim_id) DO UPDATE SET {_newer("status claimed approved currency")},
        version = greatest(t.version, excluded.version),
        as_of = greatest(t.as_of, excluded.as_of)""")


async def claim(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    approved = d.get("approved")
    await write(session, _CLAIM, {
        "claim_id": d["claim_id"], "request_id": d["request_id"], "partner_id": d["partner_id"],
        "status": str(d["status"]), "claimed": d["claimed"]["amount"],
        "approved": approved["amount"] if approved else None,
        "currency": d["claimed"]["currency"], "version": int(d["version"]),
        "as_of": event.time})


_ACCRUAL = text("""
    INSERT INTO accruals (accrual_id, movement, partner_id, kind, amount, currency, as_of)
    VALUES (:accrual_id, :movement, :partner_id, :kind, :amount, :currency, :as_of)
    ON CONFLICT (accrual_id, movement) DO NOTHING""")


async def accrual(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    reversed_ = event.type in (RebateReversedV1.event_type, SpiffReversedV1.event_type)
    kind = "rebate" if event.type.startswith("prm.rebate.") else "spiff"
    await write(session, _ACCRUAL, {
        "accrual_id": d["accrual_id"], "movement": "reversed" if reversed_ else "accrued",
         "partner_id": d["partner_id"], "kind": kind, "amount": d["amount"]["amount"],
         "currency": d["amount"]["currency"], "as_of": event.time})


_PAYOUT = text(f"""
    INSERT INTO payouts AS t (batch_id, partner_id, status, total, currency, period_from,
                              period_to, paid_on, payment_reference, version, as_of)
    VALUES (:batch_id, :partner_id, :status, :total, :currency, :period_from, :period_to,
            :paid_on, :payment_reference, :version, :as_of)
    ON CONFLICT (batch_id) DO UPDATE SET {_newer("status total currency as_of")},
        paid_on = coalesce(t.paid_on, excluded.paid_on),
        payment_reference = coalesce(t.payment_reference, excluded.payment_reference),
        version = greatest(t.version, excluded.version)""")


async def payout(session: AsyncSession, event: CloudEvent) -> None:
    d = event.data
    await write(session, _PAYOUT, {
        "batch_id": d["batch_id"], "partner_id": d["partner_id"], "status": str(d["status"]),
        "total": d["total"]["amount"], "currency": d["total"]["currency"],
        "period_from": _date(d["period_from"]), "period_to": _date(d["period_to"]),
        "paid_on": _date(d.get("paid_on")), "payment_reference": d.get("payment_reference"),
        "version": int(d["version"]), "as_of": event.time})


def _date(value: Any) -> Any:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _time(value: Any) -> Any:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _for(handler: Handler, *models: Any) -> Mapping[str, Handler]:
    """Each write is one upsert that any order of events leaves the same (above): a batch's
    are gathered and sent together (``prm_platform.projections``)."""
    return {model.event_type: projection(handler) for model in models}


HANDLERS: dict[str, Handler] = {
    **_for(partner_snapshot, PartnerCreatedV1, PartnerUpdatedV1, PartnerStatusChangedV1),
    **_for(tier_changed, PartnerTierChangedV1),
    **_for(onboarding_completed, OnboardingCompletedV1),
    **_for(tier_progress, PartnerTierProgressV1),
    **_for(onboarding_progress, OnboardingProgressV1),
    **_for(certification, CertificationEarnedV1, CertificationExpiredV1),
    **_for(deal, DealRegisteredV1, DealUpdatedV1, DealApprovedV1, DealRejectedV1, DealWonV1,
           DealLostV1, DealExpiredV1, DealExtendedV1, DealExtensionRequestedV1, DealAssignedV1,
           DealCollaboratorAddedV1, DealProtectionEndingV1, DealWinReversedV1),
    **_for(direct_account, DirectAccountChangedV1),
    **_for(contact, ContactChangedV1),
    **_for(allocation_created, MdfAllocationCreatedV1),
    **_for(fund_request, MdfRequestSubmittedV1, MdfRequestApprovedV1, MdfRequestRejectedV1,
           MdfRequestChangesRequestedV1, MdfRequestExpiredV1),
    **_for(claim, MdfClaimSubmittedV1, MdfClaimApprovedV1, MdfClaimRejectedV1),
    **_for(accrual, RebateAccruedV1, SpiffAccruedV1, RebateReversedV1, SpiffReversedV1),
    **_for(payout, PayoutApprovedV1, PayoutPaidV1),
}
