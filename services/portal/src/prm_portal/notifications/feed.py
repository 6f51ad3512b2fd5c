"""What a person must act on, from the contexts' events: one notification per event and
audience (the partner org the event concerns, or the vendor's staff), for those who may read
the record at its source (the notification's ``scope``).

Titles and bodies are English sentences; ``kind`` and ``data`` carry the same facts for a
portal that words them itself (in its users' languages).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    CertificationExpiredV1,
    DealApprovedV1,
    DealAssignedV1,
    DealCollaboratorAddedV1,
    DealExpiredV1,
    DealExtendedV1,
    DealExtensionRequestedV1,
    DealProtectionEndingV1,
    DealRegisteredV1,
    DealRejectedV1,
    LeadAssignedV1,
    LeadExpiredV1,
    LeadRecycledV1,
    MdfClaimApprovedV1,
    MdfClaimRejectedV1,
    MdfClaimSubmittedV1,
    MdfRequestApprovedV1,
    MdfRequestChangesRequestedV1,
    MdfRequestExpiredV1,
    MdfRequestRejectedV1,
    MdfRequestSubmittedV1,
    PartnerChurnRiskRaisedV1,
    PartnerHealthBandChangedV1,
    PartnerTierChangedV1,
    PayoutPaidV1,
)
from prm_events.consumer import Handler
from prm_events.envelope import CloudEvent
from prm_platform.projections import projection, write
from prm_portal.declaration import (
    DEALS_READ,
    HEALTH_READ,
    INCENTIVES_READ,
    LEADS_READ,
    PARTNERS_READ,
)

PARTNER = "partner"
VENDOR = "vendor"
_NAMESPACE = uuid.UUID("6f1d2c3e-8a4b-5c6d-9e0f-a1b2c3d4e5f6")


@dataclass(frozen=True)
class Subject:
    """The record a notification is about, the event field naming it, and the scope that
    reads it at its source."""

    type: str
    key: str
    scope: str


@dataclass(frozen=True)
class Rule:
    """How one event type becomes a notification."""

    kind: str
    audience: str
    subject: Subject
    title: Callable[[dict[str, Any]], str]
    body: Callable[[dict[str, Any]], str]
    # Only events for which this holds (e.g. a registration that needs a review).
    when: Callable[[dict[str, Any]], bool] = lambda d: True
    # The event field naming the partner org told (a partner audience's).
    partner: str = "partner_id"


def _customer(d: dict[str, Any]) -> str:
    return str(d.get("customer_name") or "a customer")


def _money(amount: dict[str, Any]) -> str:
    return f"{amount['amount']} {amount['currency']}"


def _company(d: dict[str, Any]) -> str:
    return str((d.get("company") or {}).get("name") or "A company")


def _answer_by(d: dict[str, Any]) -> str:
    return f" by {d['respond_by']}" if d.get("respond_by") else ""


# Why a lead waits for the vendor's staff (prm.lead.assigned.v1's reasons without a partner).
_QUEUED = {"no_rule_matched": "no routing rule matched it",
           "no_candidate": "no partner in its pool could take it",
           "customer_protected": "its company is a customer another partner has protected"}

_DEAL = Subject("deal", "deal_id", DEALS_READ)
_LEAD = Subject("lead", "lead_id", LEADS_READ)
_HEALTH = Subject("partner", "partner_id", HEALTH_READ)
_REQUEST = Subject("mdf_request", "request_id", INCENTIVES_READ)
_CLAIM = Subject("mdf_claim", "claim_id", INCENTIVES_READ)

# Most event types make one notification; a lead's assignment tells the partner it is offered
# to, or the vendor's staff when it waits in their queue.
RULES: dict[str, Rule | tuple[Rule, ...]] = {
    LeadAssignedV1.event_type: (
        Rule("lead.offered", PARTNER, _LEAD, title=lambda d: "New lead to answer",
             body=lambda d: f"{_company(d)} ({d['company'].get('country')}) is offered to "
                            f"you: accept or decline it{_answer_by(d)}.",
             when=lambda d: d.get("partner_id") is not None),
        Rule("lead.queued", VENDOR, _LEAD, title=lambda d: "Lead waiting in the queue",
             body=lambda d: f"{_company(d)}: "
                            f"{_QUEUED.get(d['reason'], 'no partner holds it')}.",
             when=lambda d: d.get("partner_id") is None)),
    LeadRecycledV1.event_type: Rule(
        "lead.withdrawn", PARTNER, _LEAD, partner="withdrawn_from",
        title=lambda d: "Lead withdrawn",
        body=lambda d: f"{_company(d)} waited for your answer until {d['respond_by']}; it "
                       "went on to another partner."),
    LeadExpiredV1.event_type: Rule(
        "lead.expired", PARTNER, _LEAD, title=lambda d: "Lead closed",
        body=lambda d: f"{_company(d)} was accepted but not converted to a registration in "
                       "time: it is closed.",
        when=lambda d: d.get("partner_id") is not None),
    # Partner health's early warnings, for the channel managers (a band gained is no alarm).
    PartnerHealthBandChangedV1.event_type: Rule(
        "partner.health_declined", VENDOR, _HEALTH,
        title=lambda d: f"Partner health fell to {d['band']}",
        body=lambda d: f"Its health score is {d['score']} (was {d.get('previous_score')}, "
                       f"band {d.get('previous_band')}).",
        when=lambda d: d.get("direction") == "worse"),
    PartnerChurnRiskRaisedV1.event_type: Rule(
        "partner.churn_risk_raised", VENDOR, _HEALTH,
        title=lambda d: "Partner at risk of churning",
        body=lambda d: f"Estimated churn risk {d['churn_risk']} (threshold "
                       f"{d['threshold']}): " + "; ".join(d.get("drivers") or [])[:800]),
    DealApprovedV1.event_type: Rule(
        "deal.approved", PARTNER, _DEAL, title=lambda d: "Deal registration approved",
        body=lambda d: f"Your registration for {_customer(d)} is approved and protected "
                       f"until {d['protected_until']}."),
    DealRejectedV1.event_type: Rule(
        "deal.rejected", PARTNER, _DEAL, title=lambda d: "Deal registration rejected",
        body=lambda d: f"Your registration for {_customer(d)} was rejected: {d['reason']}"),
    DealExpiredV1.event_type: Rule(
        "deal.expired", PARTNER, _DEAL, title=lambda d: "Deal registration expired",
        body=lambda d: f"Your registration for {_customer(d)} expired on "
                       f"{d['protected_until']}."),
    DealExtendedV1.event_type: Rule(
        "deal.extended", PARTNER, _DEAL, title=lambda d: "Protection extended",
        body=lambda d: f"Your registration for {_customer(d)} is protected until "
                       f"{d['protected_until']}."),
    DealProtectionEndingV1.event_type: Rule(
        "deal.protection_ending", PARTNER, _DEAL, title=lambda d: "Protection ends soon",
        body=lambda d: f"Your registration for {_customer(d)} is protected for "
                       f"{d['days_left']} more days (until {d['protected_until']}): win it "
                       "or ask for an extension."),
    DealAssignedV1.event_type: Rule(
        "deal.assigned", PARTNER, _DEAL, title=lambda d: "Account executive assigned",
        body=lambda d: f"{d.get('account_executive') or 'Nobody'} now works your "
                       f"registration for {_customer(d)} on the vendor's side."),
    DealCollaboratorAddedV1.event_type: Rule(
        "deal.collaborator_added", PARTNER, _DEAL, title=lambda d: "Collaborator added",
        body=lambda d: f"{d['name']} ({d['side']}) now works on {_customer(d)}."),
    DealRegisteredV1.event_type: Rule(
        "deal.review_needed", VENDOR, _DEAL, title=lambda d: "Registration to review",
        body=lambda d: f"{_customer(d)}: a new registration ({_money(d['amount'])}) waits "
                       "for a decision.",
        when=lambda d: d.get("status") in ("submitted", "in_review")),
    DealExtensionRequestedV1.event_type: Rule(
        "deal.extension_requested", VENDOR, _DEAL, title=lambda d: "Extension requested",
        body=lambda d: f"A partner asks for more protection on {_customer(d)}"
                       + (f": {d['reason']}" if d.get("reason") else ".")),
    MdfRequestSubmittedV1.event_type: Rule(
        "mdf_request.review_needed", VENDOR, _REQUEST,
        title=lambda d: "Fund request to review",
        body=lambda d: f"{d['activity_type']}: {_money(d['planned_cost'])} requested."),
    MdfRequestApprovedV1.event_type: Rule(
        "mdf_request.approved", PARTNER, _REQUEST, title=lambda d: "Fund request approved",
        body=lambda d: f"{_money(d['planned_cost'])} approved; claim it by "
                       f"{d['claim_due_on']}."),
    MdfRequestRejectedV1.event_type: Rule(
        "mdf_request.rejected", PARTNER, _REQUEST, title=lambda d: "Fund request rejected",
        body=lambda d: f"Your request for {_money(d['planned_cost'])} was rejected: "
                       f"{d['reason']}"),
    MdfRequestChangesRequestedV1.event_type: Rule(
        "mdf_request.changes_requested", PARTNER, _REQUEST,
        title=lambda d: "Fund request sent back",
        body=lambda d: f"The vendor asks for changes to your request for "
                       f"{_money(d['planned_cost'])}: {d['reason']}"),
    MdfRequestExpiredV1.event_type: Rule(
        "mdf_request.expired", PARTNER, _REQUEST, title=lambda d: "Fund request expired",
        body=lambda d: f"Your request for {_money(d['planned_cost'])} passed its deadline; "
                       "its funds went back to your allocation."),
    MdfClaimSubmittedV1.event_type: Rule(
        "mdf_claim.review_needed", VENDOR, _CLAIM, title=lambda d: "Claim to review",
        body=lambda d: f"A claim of {_money(d['claimed'])} with {d['proofs']} proof(s) waits "
                       "for a decision."),
    MdfClaimApprovedV1.event_type: Rule(
        "mdf_claim.approved", PARTNER, _CLAIM, title=lambda d: "Claim approved",
        body=lambda d: f"{_money(d['approved'])} of your claim is approved and payable."),
    MdfClaimRejectedV1.event_type: Rule(
        "mdf_claim.rejected", PARTNER, _CLAIM, title=lambda d: "Claim rejected",
        body=lambda d: f"Your claim of {_money(d['claimed'])} was rejected: {d['reason']}"),
    PayoutPaidV1.event_type: Rule(
        "payout.paid", PARTNER, Subject("payout", "batch_id", INCENTIVES_READ),
        title=lambda d: "Payout paid",
        body=lambda d: f"{_money(d['total'])} was paid on {d['paid_on']} (reference "
                       f"{d['payment_reference']})."),
    PartnerTierChangedV1.event_type: Rule(
        "partner.tier_changed", PARTNER, Subject("partner", "partner_id", PARTNERS_READ),
        title=lambda d: f"Your tier is now {d.get('tier') or 'none'}",
        body=lambda d: f"{str(d.get('direction', '')).capitalize()} from "
                       f"{d.get('previous_tier') or 'no tier'}: {d['reason']}"),
    CertificationExpiredV1.event_type: Rule(
        "certification.expired", PARTNER,
        Subject("certification", "certification_id", PARTNERS_READ),
        title=lambda d: f"Certification {d['code']} expired",
        body=lambda d: f"{d['code']} expired on {d['expired_on']}."),
}

_COLUMNS = """notifications (id, event_id, audience, partner_id, scope, kind, title, body, data,
                               subject_type, subject_id, occurred_at)"""
# A new row's streams are woken (stream.py): the statement NOTIFYs when it inserted the row (a
# repeat inserts nothing and wakes nobody); NOTIFY is sent at commit, once per transaction.
_WAKE = "SELECT pg_notify('portal_notifications', '') FROM fresh"
_INSERT = text(f"""
    WITH fresh AS (
        INSERT INTO {_COLUMNS}
        VALUES (:id, :event_id, :audience, :partner_id, :scope, :kind, :title, :body,
                CAST(:data AS jsonb), :subject_type, :subject_id, :occurred_at)
        ON CONFLICT (id) DO NOTHING RETURNING 1)
    {_WAKE}""")
# Later deal events name the deal only: the same statement reads its customer's name (as the
# registration gave it, if that arrived) into the title, the body and the facts, where the
# rendered text holds _CUSTOMER.
_CUSTOMER = "\ue000customer\ue000"
_INSERT_NAMING = text(f"""
    WITH deal AS (SELECT customer_name AS name FROM deals WHERE deal_id = :subject_id),
    fresh AS (
        INSERT INTO {_COLUMNS}
        VALUES (:id, :event_id, :audience, :partner_id, :scope, :kind,
                left(replace(:title, :marker, coalesce(nullif((SELECT name FROM deal), ''),
                                                       'a customer')), 200),
                left(replace(:body, :marker, coalesce(nullif((SELECT name FROM deal), ''),
                                                      'a customer')), 1000),
                CAST(:data AS jsonb) || jsonb_build_object('customer_name',
                                                           (SELECT name FROM deal)),
                :subject_type, :subject_id, :occurred_at)
        ON CONFLICT (id) DO NOTHING RETURNING 1)
    {_WAKE}""")


def notification_id(event_id: uuid.UUID, audience: str) -> uuid.UUID:
    """The same event makes the same notification, in a replay too."""
    return uuid.uuid5(_NAMESPACE, f"{event_id}/{audience}")


@projection
async def notify(session: AsyncSession, event: CloudEvent) -> None:
    """One statement per notification: the notification, its facts, and the wake-up of its
    streams. A batch's are sent together, after the home's upserts of the same events (their
    part comes first), so that a deal's notification finds its customer's name."""
    rules = RULES[event.type]
    for rule in rules if isinstance(rules, tuple) else (rules,):
        if rule.when(event.data):
            await _notify(session, event, rule)


async def _notify(session: AsyncSession, event: CloudEvent, rule: Rule) -> None:
    data = dict(event.data)
    partner_id = data.get(rule.partner) or (data.get("partner") or {}).get("id")
    subject = data[rule.subject.key] if rule.subject.key != "partner_id" else partner_id
    values = {"id": notification_id(event.id, rule.audience), "event_id": event.id,
              "audience": rule.audience, "partner_id": partner_id,
              "scope": rule.subject.scope, "kind": rule.kind,
              "subject_type": rule.subject.type, "subject_id": subject,
              "occurred_at": event.time}
    if "customer" in data or rule.subject.type != "deal":
        if "customer" in data:
            data["customer_name"] = data["customer"].get("name")
        await write(session, _INSERT, {
            **values, "title": rule.title(data)[:200], "body": rule.body(data)[:1000],
            "data": orjson.dumps(_facts(data)).decode()})
        return
    data["customer_name"] = _CUSTOMER
    title, body = rule.title(data), rule.body(data)
    data["customer_name"] = None  # the statement sets it
    await write(session, _INSERT_NAMING, {
        **values, "title": title, "body": body, "marker": _CUSTOMER,
        "data": orjson.dumps(_facts(data)).decode()})


def _facts(data: dict[str, Any]) -> dict[str, Any]:
    """The event's own fields a screen may word (the partner snapshot reduced to its id)."""
    return {key: value for key, value in data.items()
            if key not in ("partner", "products", "criteria", "customer")}


HANDLERS: dict[str, Handler] = {event_type: notify for event_type in RULES}
