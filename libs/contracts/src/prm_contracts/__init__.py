"""Published event contracts: the only shape of data that crosses a service boundary.

Each payload model names its CloudEvents ``type`` (versioned: a breaking change is a new ``.v2``
model, published beside the old one until every consumer moved) and its Kafka topic. One topic
per bounded context; the message key is the aggregate id so one aggregate's events stay in order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

PARTNERS_TOPIC = "prm.partners"
DEALS_TOPIC = "prm.deals"
API_KEYS_TOPIC = "prm.api-keys"
INCENTIVES_TOPIC = "prm.incentives"
WEBHOOKS_TOPIC = "prm.webhooks"
ATTRIBUTION_TOPIC = "prm.attribution"
FX_RATES_TOPIC = "prm.fx-rates"
LEADS_TOPIC = "prm.leads"
HEALTH_TOPIC = "prm.partner-health"
CAMPAIGNS_TOPIC = "prm.campaigns"
ENABLEMENT_TOPIC = "prm.enablement"
TOPICS = {
    PARTNERS_TOPIC: "The partner programme: organisations, their lifecycle, tiers and "
                    "progress to the next tier, certifications, agreements, onboarding and "
                    "its progress (tasks done and due), contacts (who they are, or no one "
                    "once erased), and applications.",
    DEALS_TOPIC: "Deal registrations and their lifecycle: registered, updated, approved, "
                 "rejected, won, lost, expired, extended, a win reversed; and what people "
                 "working them act on: an extension requested, an account executive assigned, "
                 "a collaborator added, protection ending; the vendor's direct accounts "
                 "changed; cloud marketplace private offers made through partners changed.",
    API_KEYS_TOPIC: "API keys issued and revoked, for the services that check keys themselves "
                    "(the SHA-256 digest of a key, never its secret; readable by the "
                    "platform's services alone).",
    INCENTIVES_TOPIC: "Incentives: MDF funds allocated to partners; fund requests and claims "
                      "submitted, sent back for changes, approved, rejected and expired; "
                      "rebates and SPIFFs accrued "
                      "and reversed; payouts approved and paid (money in minor-unit-exact "
                      "decimal strings).",
    WEBHOOKS_TOPIC: "Webhook endpoints the delivery service disabled (gone, or failing for "
                    "days), so that their owners can be told.",
    FX_RATES_TOPIC: "FX rates recorded by the incentives ledger, which owns the programme's "
                    "exchange rates; every other context that converts money keeps a projection "
                    "of them. A topic of its own, so that those contexts read rates alone, not "
                    "every incentives event.",
    LEADS_TOPIC: "Leads and their distribution: received (from the vendor's marketing or a "
                 "partner's system), offered to a partner by a routing rule, accepted, "
                 "declined, recycled to the next partner when the answer did not come in "
                 "time, converted to a deal registration, expired.",
    HEALTH_TOPIC: "Partner health: a partner's health score crossed into another band, or "
                  "its churn risk rose above the programme's threshold (the early warning a "
                  "channel manager acts on).",
    CAMPAIGNS_TOPIC: "Through-channel marketing: campaigns published and retired by the "
                     "vendor, launched by partners under their own brand, and the engagement "
                     "they bring back (opens, clicks, form fills, conversions), which "
                     "attribution turns into touchpoints. No personal data: a form fill's "
                     "contact stays on its lead.",
    ENABLEMENT_TOPIC: "Enablement: partner people's use of the resource library (views, "
                      "downloads), enrolments in learning paths, course and path completions "
                      "(the certification a path grants travels as the partners' own "
                      "certification event). Contacts by id only.",
    ATTRIBUTION_TOPIC: "Attribution: a deal's credits per partner and model changed (integer "
                       "minor units that sum exactly to the deal's amount).",
}


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlt"


# Tolerant readers: a value a newer producer added must not make an older consumer refuse (and
# dead-letter) the whole event. Known values are documented; consumers keep what they receive.
PARTNER_TYPES = ("reseller", "msp", "mssp", "si", "isv", "distributor", "referral")
PARTNER_STATUSES = ("applicant", "onboarding", "active", "suspended", "offboarded")
PartnerType = Annotated[str, Field(min_length=1, max_length=40, examples=list(PARTNER_TYPES),
                                   description="Known: " + ", ".join(PARTNER_TYPES))]
PartnerStatus = Annotated[str, Field(min_length=1, max_length=40,
                                     examples=list(PARTNER_STATUSES),
                                     description="Known: " + ", ".join(PARTNER_STATUSES))]


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # tolerant reader

    event_type: ClassVar[str]
    topic: ClassVar[str]
    summary: ClassVar[str]


class PartnerSnapshot(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    name: str
    type: PartnerType
    country: str = Field(description="ISO 3166-1 alpha-2")
    status: PartnerStatus
    version: int = Field(description="Increases with every change; consumers drop older ones.")
    tier: str | None = Field(default=None, description="The programme tier (e.g. Gold), once "
                             "the programme assigns one")
    parent_id: uuid.UUID | None = Field(default=None, description="The distributor a reseller "
                                        "buys through (two-tier distribution)")
    # Added later: events published before them still parse, as empty lists.
    countries_served: list[str] = Field(default_factory=list, description="The countries the "
                                        "partner sells into (ISO 3166-1 alpha-2)")
    languages: list[str] = Field(default_factory=list, description="The languages the partner "
                                 "works in (BCP 47)")
    specialisations: list[str] = Field(default_factory=list, description="What the partner "
                                       "specialises in, as it wrote it (e.g. cloud security)")


class PartnerCreatedV1(EventPayload):
    event_type = "prm.partner.created.v1"
    topic = PARTNERS_TOPIC
    summary = "A partner organisation was created (it starts in onboarding)."

    partner: PartnerSnapshot


class PartnerUpdatedV1(EventPayload):
    event_type = "prm.partner.updated.v1"
    topic = PARTNERS_TOPIC
    summary = "Attributes of a partner organisation changed."

    partner: PartnerSnapshot
    changed: list[str]


class PartnerStatusChangedV1(EventPayload):
    event_type = "prm.partner.status_changed.v1"
    topic = PARTNERS_TOPIC
    summary = "A partner organisation moved to another lifecycle status."

    partner: PartnerSnapshot
    previous_status: PartnerStatus
    reason: str | None = Field(default=None, description="Why, as the actor gave it")


class PartnerTierChangedV1(EventPayload):
    event_type = "prm.partner.tier_changed.v1"
    topic = PARTNERS_TOPIC
    summary = ("A partner moved to another programme tier: promoted at once, or demoted after "
               "the grace period.")

    partner: PartnerSnapshot
    previous_tier: str | None
    tier: str | None
    direction: str = Field(description="promotion or demotion")
    criteria: dict[str, str] = Field(description="The values that decided it (decimal strings "
                                     "for money), by criterion")
    reason: str


class TierShortfall(BaseModel):
    """One criterion of the next tier up that the partner does not meet yet."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    criterion: str = Field(description="Known: revenue, active_certifications, won_deals, "
                           "compliant")
    code: str = Field(description="Stable, for a reader to word it itself. Known: "
                      "revenue_below_minimum, revenue_currency_mismatch, "
                      "certifications_below_minimum, won_deals_below_minimum, not_compliant")
    required: str = Field(description="What the tier takes: a decimal string for money, an "
                          "integer or true/false as a string otherwise")
    actual: str = Field(description="The partner's value, as required is written")
    currency: str | None = Field(default=None, description="ISO 4217, for money criteria: "
                                 "the programme's base currency, which actual is in (with "
                                 "revenue_currency_mismatch the tier's minimum, required, is "
                                 "in another currency, as the message says)")
    message: str = Field(description="In English")


class PartnerTierProgressV1(EventPayload):
    event_type = "prm.partner.tier_progress.v1"
    topic = PARTNERS_TOPIC
    summary = ("Where a partner stands against the next tier up changed (its tier, that next "
               "tier, what it still misses or its values): announced by the tier evaluation "
               "only when one of them changed, and at a partner's first evaluation.")

    partner_id: uuid.UUID
    tier: str | None = Field(description="The tier the partner holds now")
    next_tier: str | None = Field(description="The next tier up; none at the top, or in a "
                                  "programme without tiers")
    shortfalls: list[TierShortfall] = Field(description="What the next tier takes that the "
                                            "partner does not meet yet, criterion by "
                                            "criterion; empty without a next tier")
    criteria: dict[str, str] = Field(description="The partner's values now (decimal strings "
                                     "for money), by criterion, as "
                                     "prm.partner.tier_changed.v1 gives them")
    evaluated_on: dt.date = Field(description="The day the evaluation was for")
    version: int = Field(description="Increases with every progress event of the partner; "
                         "consumers keep the newest")


class CertificationEarnedV1(EventPayload):
    event_type = "prm.partner.certification_earned.v1"
    topic = PARTNERS_TOPIC
    summary = "A contact of a partner earned a certification (by hand or from an LMS)."

    partner_id: uuid.UUID
    certification_id: uuid.UUID
    code: str = Field(description="The certification's code in the programme, e.g. SEC-101")
    contact_id: uuid.UUID | None = None
    earned_on: dt.date
    expires_on: dt.date | None = None


class CertificationExpiredV1(EventPayload):
    event_type = "prm.partner.certification_expired.v1"
    topic = PARTNERS_TOPIC
    summary = "A partner's certification reached its expiry date (or was revoked)."

    partner_id: uuid.UUID
    certification_id: uuid.UUID
    code: str
    expired_on: dt.date


class AgreementSignedV1(EventPayload):
    event_type = "prm.partner.agreement_signed.v1"
    topic = PARTNERS_TOPIC
    summary = "A partner signed a version of an agreement."

    partner_id: uuid.UUID
    signature_id: uuid.UUID
    agreement: str = Field(description="The agreement's code, e.g. reseller-agreement")
    version: int
    signed_on: dt.date
    expires_on: dt.date | None = None


class OnboardingCompletedV1(EventPayload):
    event_type = "prm.partner.onboarding_completed.v1"
    topic = PARTNERS_TOPIC
    summary = "Every task of a partner's onboarding plan is done."

    partner_id: uuid.UUID
    plan_id: uuid.UUID
    completed_at: dt.datetime


class OnboardingTaskDue(BaseModel):
    """An open task of a partner's onboarding plan."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: uuid.UUID
    title: str
    due_on: dt.date | None = Field(default=None, description="The day it is due (UTC); none "
                                   "when the plan sets no date")


class OnboardingProgressV1(EventPayload):
    event_type = "prm.partner.onboarding_progress.v1"
    topic = PARTNERS_TOPIC
    summary = ("A partner's onboarding plan was started or its tasks changed: how many are "
               "done, and the open ones soonest due first.")

    partner_id: uuid.UUID
    plan_id: uuid.UUID
    tasks_total: int
    tasks_done: int
    tasks_due: list[OnboardingTaskDue] = Field(description="The open tasks, soonest due first "
                                               "(those without a date last), then in the "
                                               "plan's order; at most 20")
    version: int = Field(description="Increases with every onboarding progress event of the "
                         "partner, across its plans; consumers keep the newest")


class PartnerInactivityFlaggedV1(EventPayload):
    event_type = "prm.partner.inactivity_flagged.v1"
    topic = PARTNERS_TOPIC
    summary = ("A partner registered no deal, earned no certification and made no API call "
               "for the configured number of days.")

    partner_id: uuid.UUID
    last_activity_at: dt.datetime | None = Field(description="Its last sign of activity, if "
                                                 "any")
    inactive_days: int


class ContactChangedV1(EventPayload):
    event_type = "prm.partner.contact_changed.v1"
    topic = PARTNERS_TOPIC
    summary = ("A contact of a partner was added or changed, or deleted or its personal data "
               "erased (then it names no one): for the read models that find people.")

    contact_id: uuid.UUID
    partner_id: uuid.UUID
    name: str | None = None
    email: str | None = None
    job_title: str | None = None
    removed: bool = Field(default=False, description="Deleted, or its personal data erased: "
                          "consumers forget what they kept of it")
    version: int = Field(description="Increases with every change; consumers keep the newest")


class PartnerApplicationSubmittedV1(EventPayload):
    event_type = "prm.partner_application.submitted.v1"
    topic = PARTNERS_TOPIC
    summary = "A prospect applied to the partner programme, with its fit score."

    application_id: uuid.UUID
    company_name: str
    type: PartnerType
    country: str
    fit_score: int = Field(ge=0, le=100)


class PartnerApplicationDecidedV1(EventPayload):
    event_type = "prm.partner_application.decided.v1"
    topic = PARTNERS_TOPIC
    summary = "An application was approved (the partner is created in onboarding) or declined."

    application_id: uuid.UUID
    decision: str = Field(description="approved or declined")
    partner_id: uuid.UUID | None = None
    reason: str | None = None


class Customer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    domain: str
    country: str


class Amount(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    amount: str = Field(description="Decimal string")
    currency: str = Field(description="ISO 4217")


class DealRegisteredV1(EventPayload):
    event_type = "prm.deal.registered.v1"
    topic = DEALS_TOPIC
    summary = "A partner registered a deal."

    deal_id: uuid.UUID
    partner_id: uuid.UUID
    customer: Customer
    amount: Amount
    expected_close_date: dt.date
    status: str = Field(description="submitted, in_review or rejected: what the conflict "
                        "check decided")
    deal_type: str = Field(default="new", description="new, renewal or upsell")
    protected_until: dt.date | None = None
    reason: str | None = Field(default=None, description="Why, when not submitted")
    version: int = 1
    lead_id: uuid.UUID | None = Field(default=None, description="The lead the registration "
                                      "was converted from: its source")


class Product(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sku: str
    quantity: int
    unit_price: Amount


class DealChange(EventPayload):
    """What every later event of a deal carries: which deal, whose, and its version (consumers
    keep the newest)."""

    deal_id: uuid.UUID
    partner_id: uuid.UUID
    status: str
    version: int


class DealUpdatedV1(DealChange):
    event_type = "prm.deal.updated.v1"
    topic = DEALS_TOPIC
    summary = "An open registration's details changed: a PATCH of its amount, products, "\
              "close date or notes, or the partner's system sending it again under its "\
              "external id (its sync)."

    changed: list[str] = Field(description="The fields that changed (amount, currency, "
                               "products, expected_close_date, notes, deal_type, "
                               "private_offer, customer_address, customer_crm_ids)")
    amount: Amount
    expected_close_date: dt.date
    deal_type: str
    products: list[Product]


class DealApprovedV1(DealChange):
    event_type = "prm.deal.approved.v1"
    topic = DEALS_TOPIC
    summary = "A registration was approved: the partner's claim on the customer is protected."

    protected_until: dt.date
    reason: str | None = None


class DealRejectedV1(DealChange):
    event_type = "prm.deal.rejected.v1"
    topic = DEALS_TOPIC
    summary = "A registration was rejected by the channel team or in favour of another."

    previous_status: str
    reason: str


class DealWonV1(DealChange):
    event_type = "prm.deal.won.v1"
    topic = DEALS_TOPIC
    summary = "An approved deal was won, with the amount it was won for."

    customer: Customer
    amount: Amount = Field(description="The won amount")
    closed_on: dt.date
    deal_type: str
    products: list[Product]


class DealLostV1(DealChange):
    event_type = "prm.deal.lost.v1"
    topic = DEALS_TOPIC
    summary = "An approved deal was lost."

    reason: str | None = None


class DealExpiredV1(DealChange):
    event_type = "prm.deal.expired.v1"
    topic = DEALS_TOPIC
    summary = "A registration's protection ran out before it was won or lost."

    previous_status: str
    protected_until: dt.date


class DealExtendedV1(DealChange):
    event_type = "prm.deal.extended.v1"
    topic = DEALS_TOPIC
    summary = "A registration's protection was extended."

    protected_until: dt.date
    extensions: int = Field(description="How many times it has been extended")


class DealExtensionRequestedV1(DealChange):
    event_type = "prm.deal.extension_requested.v1"
    topic = DEALS_TOPIC
    summary = "A partner asked for more protection and a rule of engagement sent the request " \
              "to the channel team, who extend the registration or let it run out."

    protected_until: dt.date | None = Field(description="When its protection ends now")
    requested_at: dt.datetime
    reason: str | None = Field(default=None, description="The rule's reason for the review, "
                               "and what the partner wrote")


class DealAssignedV1(DealChange):
    event_type = "prm.deal.assigned.v1"
    topic = DEALS_TOPIC
    summary = "The vendor assigned the account executive who works a deal (or unassigned one)."

    account_executive: str | None = Field(description="Who works it now; null: nobody")
    previous_account_executive: str | None = None


class DealCollaboratorAddedV1(DealChange):
    event_type = "prm.deal.collaborator_added.v1"
    topic = DEALS_TOPIC
    summary = "Someone of the partner's side or the vendor's was added to the people working " \
              "a deal (their e-mail address is read from the API, not carried here)."

    collaborator_id: uuid.UUID
    side: str = Field(description="partner or vendor")
    name: str
    role: str | None = None


class DealProtectionEndingV1(DealChange):
    event_type = "prm.deal.protection_ending.v1"
    topic = DEALS_TOPIC
    summary = "An open registration's protection ends soon (within the notice period, 14 days " \
              "by default): the partner wins it, asks for an extension, or loses its claim. " \
              "Sent once per protection end."

    protected_until: dt.date
    days_left: int = Field(description="Whole days from today (UTC) to its last protected day")


class DirectAccountChangedV1(EventPayload):
    event_type = "prm.direct_account.changed.v1"
    topic = DEALS_TOPIC
    summary = "One of the vendor's direct accounts (which registrations conflict with) was " \
              "created, changed or removed: its name, domain and country as they are now."

    account_id: uuid.UUID
    name: str
    domain: str | None = None
    country: str | None = None
    removed: bool = Field(default=False, description="The account was deleted")
    version: int = Field(description="Increases with every change; consumers keep the newest")


class DealWinReversedV1(DealChange):
    event_type = "prm.deal.win_reversed.v1"
    topic = DEALS_TOPIC
    summary = "The vendor reversed a won deal (the booking was cancelled, refunded or entered " \
              "in error): what was earned on the win is to be taken back."

    reason: str = Field(description="Why the win was reversed")
    amount: Amount = Field(description="The won amount that was reversed")
    closed_on: dt.date = Field(description="The close date of the reversed win")


class ApiKeyIssuedV1(EventPayload):
    event_type = "prm.api_key.issued.v1"
    topic = API_KEYS_TOPIC
    summary = "An API key was issued: what it may do, and the digest of its secret."

    key_id: uuid.UUID
    secret_hash: str = Field(min_length=64, max_length=64,
                             description="SHA-256 of the key's secret, hex")
    kind: str = Field(description="vendor or partner")
    partner_id: uuid.UUID | None = None
    scopes: list[str]
    expires_at: dt.datetime | None = None


class ApiKeyRevokedV1(EventPayload):
    event_type = "prm.api_key.revoked.v1"
    topic = API_KEYS_TOPIC
    summary = "An API key was revoked; it is refused from now on."

    key_id: uuid.UUID
    revoked_at: dt.datetime


class MdfAllocationCreatedV1(EventPayload):
    event_type = "prm.mdf.allocation.created.v1"
    topic = INCENTIVES_TOPIC
    summary = "A partner was allocated market development funds from a budget: what its fund " \
              "requests may reserve (less what requests reserve and claims spend)."

    allocation_id: uuid.UUID
    partner_id: uuid.UUID
    budget_id: uuid.UUID
    amount: Amount
    version: int


class MdfRequestChange(EventPayload):
    """What every event of a fund request carries: which request, whose, against which
    allocation and budget, its status and version (consumers keep the newest)."""

    request_id: uuid.UUID
    partner_id: uuid.UUID
    allocation_id: uuid.UUID
    budget_id: uuid.UUID
    status: str = Field(description="Known: submitted, changes_requested, approved, rejected, "
                        "expired, claimed")
    planned_cost: Amount = Field(description="The funds the request reserves")
    version: int


class MdfRequestSubmittedV1(MdfRequestChange):
    event_type = "prm.mdf.request.submitted.v1"
    topic = INCENTIVES_TOPIC
    summary = "A partner asked for market development funds for an activity; the planned " \
              "cost is reserved from its allocation."

    activity_type: str
    start_date: dt.date
    end_date: dt.date


class MdfRequestApprovedV1(MdfRequestChange):
    event_type = "prm.mdf.request.approved.v1"
    topic = INCENTIVES_TOPIC
    summary = "A fund request was approved (by the vendor or by the auto-approval rule): the " \
              "partner may run the activity and claim up to the planned cost."

    approved_by: str = Field(description="vendor or rule")
    claim_due_on: dt.date


class MdfRequestRejectedV1(MdfRequestChange):
    event_type = "prm.mdf.request.rejected.v1"
    topic = INCENTIVES_TOPIC
    summary = "A fund request was rejected; its reserved funds went back to the allocation."

    reason: str


class MdfRequestChangesRequestedV1(MdfRequestChange):
    event_type = "prm.mdf.request.changes_requested.v1"
    topic = INCENTIVES_TOPIC
    summary = "The vendor sent a fund request back to the partner for changes; its funds stay " \
              "reserved until the partner submits it again."

    reason: str


class MdfRequestExpiredV1(MdfRequestChange):
    event_type = "prm.mdf.request.expired.v1"
    topic = INCENTIVES_TOPIC
    summary = "A fund request passed its deadline (undecided, or approved but never claimed); " \
              "its reserved funds went back to the allocation."

    previous_status: str


class MdfClaimChange(EventPayload):
    """What every event of a claim carries."""

    claim_id: uuid.UUID
    request_id: uuid.UUID
    partner_id: uuid.UUID
    status: str = Field(description="Known: submitted, approved, rejected")
    claimed: Amount
    version: int


class MdfClaimSubmittedV1(MdfClaimChange):
    event_type = "prm.mdf.claim.submitted.v1"
    topic = INCENTIVES_TOPIC
    summary = "A partner claimed the cost of an approved activity, with proof of performance."

    proofs: int = Field(description="How many proof-of-performance files it carries")


class MdfClaimApprovedV1(MdfClaimChange):
    event_type = "prm.mdf.claim.approved.v1"
    topic = INCENTIVES_TOPIC
    summary = "A claim was approved in full or in part: the approved amount is payable to the " \
              "partner, the rest of the reservation went back to its allocation."

    approved: Amount
    released: Amount


class MdfClaimRejectedV1(MdfClaimChange):
    event_type = "prm.mdf.claim.rejected.v1"
    topic = INCENTIVES_TOPIC
    summary = "A claim was rejected; the request's reserved funds went back to the allocation."

    reason: str


class RebateAccruedV1(EventPayload):
    event_type = "prm.rebate.accrued.v1"
    topic = INCENTIVES_TOPIC
    summary = "A rebate was accrued to a partner for a won deal (or a period's true-up): the " \
              "amount is payable to the partner."

    accrual_id: uuid.UUID
    programme_id: uuid.UUID
    partner_id: uuid.UUID
    deal_id: uuid.UUID | None = Field(default=None, description="None for a period's true-up")
    kind: str = Field(description="Known: deal, true_up")
    amount: Amount
    rate: str = Field(description="The rate that applied, in percent (decimal string)")
    version: int


class SpiffAccruedV1(EventPayload):
    event_type = "prm.spiff.accrued.v1"
    topic = INCENTIVES_TOPIC
    summary = "A SPIFF bonus was accrued to a partner for a won deal (at most what the " \
              "partner's and the SPIFF's caps left): the amount is payable to the partner."

    accrual_id: uuid.UUID
    spiff_id: uuid.UUID
    partner_id: uuid.UUID
    deal_id: uuid.UUID
    amount: Amount
    capped: bool = Field(description="Less than the full bonus, because a cap was reached")
    version: int


class RebateReversedV1(EventPayload):
    event_type = "prm.rebate.reversed.v1"
    topic = INCENTIVES_TOPIC
    summary = "A rebate accrual was reversed (its won deal undone), or a period's true-up " \
              "took back what a lower band no longer pays: the amount is no longer payable " \
              "to the partner."

    accrual_id: uuid.UUID = Field(description="The accrual reversed, or the true-up that took "
                                  "the amount back")
    programme_id: uuid.UUID
    partner_id: uuid.UUID
    deal_id: uuid.UUID | None = Field(default=None, description="None for a period's true-up")
    kind: str = Field(description="Known: deal, true_up")
    amount: Amount = Field(description="What was taken back from the partner's payable")
    reason: str
    version: int


class SpiffReversedV1(EventPayload):
    event_type = "prm.spiff.reversed.v1"
    topic = INCENTIVES_TOPIC
    summary = "A SPIFF accrual was reversed (its won deal undone): the amount went back to " \
              "the SPIFF's pool and is no longer payable to the partner."

    accrual_id: uuid.UUID
    spiff_id: uuid.UUID
    partner_id: uuid.UUID
    deal_id: uuid.UUID
    amount: Amount = Field(description="What was taken back from the partner's payable")
    reason: str
    version: int


class PayoutBatchChange(EventPayload):
    """What every event of a payout batch carries."""

    batch_id: uuid.UUID
    partner_id: uuid.UUID
    period_from: dt.date
    period_to: dt.date
    total: Amount = Field(description="The sum of the batch's payable amounts")
    lines: int
    status: str = Field(description="Known: draft, approved, exported, paid")
    version: int


class PayoutApprovedV1(PayoutBatchChange):
    event_type = "prm.payout.approved.v1"
    topic = INCENTIVES_TOPIC
    summary = "A partner's payout batch was approved for payment; the finance system may " \
              "export and pay it."


class PayoutPaidV1(PayoutBatchChange):
    event_type = "prm.payout.paid.v1"
    topic = INCENTIVES_TOPIC
    summary = "The finance system confirmed a payout batch paid: its amounts moved from the " \
              "partner's payable to paid."

    payment_reference: str
    paid_on: dt.date


class FxRateSetV1(EventPayload):
    event_type = "prm.fx.rate_set.v1"
    topic = FX_RATES_TOPIC
    summary = "An exchange rate was recorded by the incentives ledger, the one owner of the " \
              "programme's FX rates: from `effective_on` until the pair's next rate, one unit " \
              "of `base` is worth `rate` units of `quote`. A rate is never changed once set."

    rate_id: uuid.UUID
    base: str = Field(description="ISO 4217, the currency converted from")
    quote: str = Field(description="ISO 4217, the currency converted to")
    rate: str = Field(description="Quote units per base unit, a positive decimal string "
                      "(at most 10 decimals)")
    effective_on: dt.date = Field(description="The first day the rate applies")
    recorded_at: dt.datetime


class WebhookEndpointDisabledV1(EventPayload):
    event_type = "prm.webhook.endpoint.disabled.v1"
    topic = WEBHOOKS_TOPIC
    summary = "A webhook endpoint was disabled by the delivery service: it answered 410 Gone, " \
              "or every delivery to it failed for days."

    endpoint_id: uuid.UUID
    partner_id: uuid.UUID | None = Field(default=None, description="The partner org owning "
                                         "the endpoint; none for a vendor endpoint")
    reason: str = Field(description="Known: gone, failing")
    failing_since: dt.datetime | None = None
    disabled_at: dt.datetime
    version: int


class AttributionCredit(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(description="Known: first_touch, last_touch, linear, time_decay, "
                       "position_based, w_shaped, custom_weights, markov, shapley")
    partner_id: uuid.UUID
    role: str = Field(description="sourced or influenced, by the rules version")
    amount: str = Field(description="Decimal string in the deal's currency")


class AttributionComputedV1(EventPayload):
    event_type = "prm.attribution.computed.v1"
    topic = ATTRIBUTION_TOPIC
    summary = "A deal's attribution changed (a touch, a deal change or a rules version): " \
              "every model's credits, which sum exactly to the deal's amount per model."

    deal_id: uuid.UUID
    basis: str = Field(description="won (revenue) or pipeline (an open deal)")
    deal_amount: Amount
    rules_version: int
    credits: list[AttributionCredit]
    version: int = Field(description="The deal's attribution revision; consumers keep the "
                         "newest")


class LeadChange(EventPayload):
    """What every event of a lead carries: which lead, where it came from, who holds it now
    and its version (consumers keep the newest)."""

    lead_id: uuid.UUID
    partner_id: uuid.UUID | None = Field(default=None, description="The partner the lead is "
                                         "offered to or was accepted by; none in the vendor's "
                                         "queue")
    source: str = Field(description="vendor (marketing, web forms) or partner (sourced by a "
                        "partner's own system)")
    company: Customer
    status: str = Field(description="Known: new, offered, accepted, queued, converted, "
                        "expired")
    version: int


class LeadReceivedV1(LeadChange):
    event_type = "prm.lead.received.v1"
    topic = LEADS_TOPIC
    summary = "A lead came in, from the vendor's marketing or a partner's system; `flagged` " \
              "when its company is a customer another partner has protected."

    flagged: bool = False


class LeadAssignedV1(LeadChange):
    event_type = "prm.lead.assigned.v1"
    topic = LEADS_TOPIC
    summary = "A lead was offered to a partner (by a routing rule, or by hand) to accept or " \
              "decline by `respond_by`; or, with no partner, put in the vendor's queue."

    rule_id: uuid.UUID | None = None
    rule_version: int | None = None
    respond_by: dt.datetime | None = None
    reason: str = Field(description="Known: routed, assigned_by_hand, recycled, "
                        "no_rule_matched, no_candidate, customer_protected")


class LeadAcceptedV1(LeadChange):
    event_type = "prm.lead.accepted.v1"
    topic = LEADS_TOPIC
    summary = "The partner the lead was offered to accepted it."


class LeadDeclinedV1(LeadChange):
    event_type = "prm.lead.declined.v1"
    topic = LEADS_TOPIC
    summary = "The partner the lead was offered to declined it, with its reason; the lead " \
              "goes on to the next partner in turn (a prm.lead.assigned.v1 follows)."

    declined_by: uuid.UUID
    reason: str = Field(description="Known: not_our_region, no_capacity, not_a_fit, "
                        "existing_customer, other")


class LeadRecycledV1(LeadChange):
    event_type = "prm.lead.recycled.v1"
    topic = LEADS_TOPIC
    summary = "The partner the lead was offered to did not answer in time: the offer was " \
              "withdrawn and the lead goes on to the next partner in turn."

    withdrawn_from: uuid.UUID
    respond_by: dt.datetime


class LeadConvertedV1(LeadChange):
    event_type = "prm.lead.converted.v1"
    topic = LEADS_TOPIC
    summary = "An accepted lead became a deal registration, which keeps the lead as its source."

    deal_id: uuid.UUID


class LeadExpiredV1(LeadChange):
    event_type = "prm.lead.expired.v1"
    topic = LEADS_TOPIC
    summary = "An accepted lead was not converted in time, or a queued lead was not taken: " \
              "it is closed."


class PartnerSurveyAnsweredV1(EventPayload):
    event_type = "prm.partner.survey_answered.v1"
    topic = PARTNERS_TOPIC
    summary = ("A partner answered a satisfaction survey (PSAT or partner NPS), or the score "
               "of an answer changed. Neither the comment nor who answered: no personal data.")

    partner_id: uuid.UUID
    response_id: uuid.UUID
    kind: str = Field(description="`psat` (score 1-5) or `nps` (score 0-10)")
    score: int = Field(ge=0, le=10)
    answered_at: dt.datetime


class PartnerSurveyRequestedV1(EventPayload):
    event_type = "prm.partner.survey_requested.v1"
    topic = PARTNERS_TOPIC
    summary = ("A survey campaign invited a partner's contact to a satisfaction survey (PSAT or "
               "partner NPS): for the survey tool, through a webhook, to send it. Carries the "
               "contact's id and e-mail address (personal data, what the tool needs to send "
               "it), never its name; erasing the contact blanks the e-mail in the events still "
               "kept.")

    invitation_id: uuid.UUID = Field(description="Name it as `invitation_id` when the answer "
                                     "comes back, so it counts for the campaign")
    campaign_id: uuid.UUID
    partner_id: uuid.UUID
    contact_id: uuid.UUID
    kind: str = Field(description="`psat` (score 1-5) or `nps` (score 0-10)")
    email: str | None = Field(description="Where to send it: the contact's address when it was "
                              "invited (null once the contact was erased)")
    trigger: str = Field(description="Known: schedule, onboarding_completed, claim_paid")
    requested_at: dt.datetime


class PartnerHealthBandChangedV1(EventPayload):
    event_type = "prm.partner.health_band_changed.v1"
    topic = HEALTH_TOPIC
    summary = ("A partner's health score moved into another band (worse or better) when it "
               "was scored again: once per crossing, whatever the number of recomputations.")

    partner_id: uuid.UUID
    score: str = Field(description="The score now, 0-100, a decimal string with two places")
    band: str = Field(description="The band it is in now")
    previous_band: str | None = Field(description="The band it was in; none at its first score")
    previous_score: str | None = Field(description="The score before, a decimal string")
    direction: str = Field(description="`worse` or `better` (by the bands' order)")
    model_version: int = Field(description="The version of the health model that scored it")
    computed_on: dt.date


class PartnerChurnRiskRaisedV1(EventPayload):
    event_type = "prm.partner.churn_risk_raised.v1"
    topic = HEALTH_TOPIC
    summary = ("A partner's estimated churn risk rose above the programme's threshold; "
               "announced again only after it fell back below it.")

    partner_id: uuid.UUID
    churn_risk: str = Field(description="The estimated probability, 0-1, a decimal string")
    threshold: str = Field(description="The health model's threshold, a decimal string")
    drivers: list[str] = Field(description="What drives the estimate most, in English")
    computed_on: dt.date


class MarketplaceOfferChangedV1(EventPayload):
    event_type = "prm.marketplace_offer.changed.v1"
    topic = DEALS_TOPIC
    summary = ("A cloud marketplace private offer made through a partner was created, changed, "
               "published or cancelled by the vendor, or its status changed on the marketplace "
               "(a signed marketplace event): both the marketplace's status and the lifecycle's, "
               "and the money in the offer's currency.")

    offer_id: uuid.UUID
    deal_id: uuid.UUID = Field(description="The partner's deal registration it is for")
    partner_id: uuid.UUID
    marketplace: str = Field(description="Known: aws, azure, gcp")
    kind: str = Field(description="Known: aws_cppo, aws_resale_authorization, "
                      "azure_multiparty_private_offer, gcp_private_offer")
    external_offer_id: str | None = Field(description="The marketplace's offer id")
    change: str = Field(description="Known: created, updated, published, cancelled, "
                        "status_changed (a marketplace event), deal_won (a later acceptance "
                        "event won the deal)")
    marketplace_status: str = Field(description="The status in the marketplace's own words")
    status: str = Field(description="Known: draft, published, accepted, active, expired, "
                        "cancelled, replaced")
    previous_status: str | None = None
    gross: Amount = Field(description="Wholesale price plus the partner's markup: what the "
                          "customer pays")
    marketplace_fee: Amount
    partner_margin: Amount = Field(description="The markup less its share of the fee")
    vendor_net: Amount = Field(description="The wholesale price less its share of the fee: "
                               "the vendor's revenue, which a won deal carries")
    version: int


class EngagedCompany(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: str = Field(description="The company's web domain, lowercase")
    name: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2")


class CampaignChangedV1(EventPayload):
    event_type = "prm.campaign.changed.v1"
    topic = CAMPAIGNS_TOPIC
    summary = ("A through-channel marketing campaign was published (a new version partners may "
               "launch) or retired (no new launches; running ones keep their assets).")

    campaign_id: uuid.UUID
    name: str
    version: int = Field(description="The campaign's version now published (or last published)")
    status: str = Field(description="Known: published, retired")
    languages: list[str] = Field(description="The language variants of its assets (BCP 47)")


class CampaignLaunchedV1(EventPayload):
    event_type = "prm.campaign.launched.v1"
    topic = CAMPAIGNS_TOPIC
    summary = ("A partner launched a campaign under its own brand: its assets were rendered "
               "with trackable links carrying the launch's `ref`, optionally funded by an MDF "
               "fund request of the partner.")

    launch_id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_name: str
    campaign_version: int
    partner_id: uuid.UUID
    ref: str = Field(description="The tracking code in every link of the launch (`prm_ref`)")
    language: str = Field(description="The language variant launched (BCP 47)")
    mdf_request_id: uuid.UUID | None = Field(default=None, description="The MDF fund request "
                                             "paying for it: its cost is the campaign's cost")
    launched_at: dt.datetime


class CampaignEngagedV1(EventPayload):
    event_type = "prm.campaign.engaged.v1"
    topic = CAMPAIGNS_TOPIC
    summary = ("Someone engaged with a partner's launch of a campaign: an open, a click, a form "
               "fill (which became a lead) or a conversion, reported once per engagement id. "
               "With the company's domain, attribution records it as a `marketing` touchpoint.")

    engagement_id: uuid.UUID
    launch_id: uuid.UUID
    campaign_id: uuid.UUID
    partner_id: uuid.UUID
    kind: str = Field(description="Known: open, click, form_fill, conversion")
    occurred_at: dt.datetime
    asset: str | None = Field(default=None, description="The asset engaged with (its key)")
    link: str | None = Field(default=None, description="The link clicked (its key)")
    company: EngagedCompany | None = Field(default=None, description="The company, when known "
                                     "(always for a form fill)")
    lead_id: uuid.UUID | None = Field(default=None, description="The lead a form fill became")
    mdf_request_id: uuid.UUID | None = None


class EnablementResourceUsedV1(EventPayload):
    event_type = "prm.enablement.resource_used.v1"
    topic = ENABLEMENT_TOPIC
    summary = ("Someone of a partner viewed or downloaded a resource of the enablement "
               "library (one event per use).")

    use_id: uuid.UUID
    resource_id: uuid.UUID
    resource_version: int
    partner_id: uuid.UUID
    contact_id: uuid.UUID | None = Field(default=None, description="The person, when the "
                                         "caller is one (a portal user matched to a contact)")
    kind: str = Field(description="Known: view, download")
    language: str = Field(description="The language variant used (BCP 47)")
    used_at: dt.datetime


class LearningEnrolmentChangedV1(EventPayload):
    event_type = "prm.enablement.enrolment_changed.v1"
    topic = ENABLEMENT_TOPIC
    summary = ("A partner's contact was enrolled in a learning path (when the partner joined, "
               "moved tier, or by hand), progressed in it, or completed it.")

    enrolment_id: uuid.UUID
    path_id: uuid.UUID
    partner_id: uuid.UUID
    contact_id: uuid.UUID
    status: str = Field(description="Known: enrolled, in_progress, completed")
    reason: str = Field(description="Known: joined, tier_changed, onboarding, by_hand")
    courses_done: int
    courses_total: int
    completed_at: dt.datetime | None = None
    certification_code: str | None = Field(default=None, description="The certification its "
                                           "completion granted, if the path grants one")
    version: int


CONTRACTS: dict[str, type[EventPayload]] = {
    model.event_type: model
    for model in (PartnerCreatedV1, PartnerUpdatedV1, PartnerStatusChangedV1,
                  PartnerTierChangedV1, CertificationEarnedV1, CertificationExpiredV1,
                  AgreementSignedV1, OnboardingCompletedV1, PartnerInactivityFlaggedV1,
                  PartnerApplicationSubmittedV1, PartnerApplicationDecidedV1, DealRegisteredV1,
                  DealUpdatedV1, DealApprovedV1, DealRejectedV1, DealWonV1, DealLostV1,
                  DealExpiredV1, DealExtendedV1, ApiKeyIssuedV1, ApiKeyRevokedV1,
                  MdfRequestSubmittedV1, MdfRequestApprovedV1, MdfRequestRejectedV1,
                  MdfRequestExpiredV1, MdfClaimSubmittedV1, MdfClaimApprovedV1,
                  MdfClaimRejectedV1, RebateAccruedV1, SpiffAccruedV1, RebateReversedV1,
                  SpiffReversedV1, PayoutApprovedV1, PayoutPaidV1, WebhookEndpointDisabledV1,
                  AttributionComputedV1, DealWinReversedV1, DealExtensionRequestedV1,
                  DealAssignedV1, DealCollaboratorAddedV1, DealProtectionEndingV1,
                  MdfRequestChangesRequestedV1, MdfAllocationCreatedV1,
                  DirectAccountChangedV1, PartnerTierProgressV1, OnboardingProgressV1,
                  ContactChangedV1, FxRateSetV1, LeadReceivedV1, LeadAssignedV1,
                  LeadAcceptedV1, LeadDeclinedV1, LeadRecycledV1, LeadConvertedV1,
                  LeadExpiredV1, PartnerSurveyAnsweredV1, PartnerSurveyRequestedV1,
                  PartnerHealthBandChangedV1, PartnerChurnRiskRaisedV1,
                  MarketplaceOfferChangedV1, CampaignChangedV1, CampaignLaunchedV1,
                  CampaignEngagedV1, EnablementResourceUsedV1, LearningEnrolmentChangedV1)
}
