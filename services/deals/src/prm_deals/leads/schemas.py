"""The leads API's shapes: what comes in (a lead, a batch, a routing rule, an answer) and what
goes out (a lead as its reader may see it, an offer with its explanation)."""

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from prm_deals.registrations.schemas import DealType, Product
from prm_platform.money import Money
from prm_platform.security import Principal
from prm_platform.types import (
    CountryCode,
    DomainName,
    EmailAddress,
    IsoDate,
    IsoDateTime,
    LanguageTag,
    Name,
)

MAX_BATCH = 1000
MAX_RULES = 200
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ExternalId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,100}$")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class CompanySize(StrEnum):
    """The lead's company by headcount: `small` (under 50), `medium` (50-999), `large`
    (1,000-9,999), `enterprise` (10,000 and more)."""

    small = "small"
    medium = "medium"
    large = "large"
    enterprise = "enterprise"


class LeadStatus(StrEnum):
    """`new` (not routed yet), `offered` (to a partner, awaiting its answer), `accepted`,
    `queued` (in the vendor's queue: nobody matched or took it, or its company is another
    partner's protected customer), `converted` (to a deal registration), `expired`."""

    new = "new"
    offered = "offered"
    accepted = "accepted"
    queued = "queued"
    converted = "converted"
    expired = "expired"


class LeadDeclineReason(StrEnum):
    """Why a partner declines a lead."""

    not_our_region = "not_our_region"
    no_capacity = "no_capacity"
    not_a_fit = "not_a_fit"
    existing_customer = "existing_customer"
    other = "other"


class LeadCompany(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="The company's name, as the form or CRM gave it.")
    domain: DomainName = Field(description="Its website domain (checked for conflicts with "
                               "registrations like a registration's customer).")
    country: CountryCode


class LeadContact(BaseModel):
    """Who asked: personal data, kept minimal and shown only to the vendor, the partner the
    lead is offered to or held by, and the partner that passed it on."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: EmailAddress | None = None
    title: Annotated[str, StringConstraints(max_length=100)] | None = None


_LEAD_EXAMPLE: dict[str, Any] = {
    "external_id": "00Q5e00000ABCDe",
    "company": {"name": "Globex GmbH", "domain": "globex.example", "country": "DE"},
    "industry": "manufacturing", "product": "SEC-EDGE", "size": "medium", "language": "de",
    "contact": {"name": "Hank Scorpio", "email": "hank@globex.example", "title": "CIO"},
    "estimated_amount": {"amount": "25000.00", "currency": "EUR"},
    "notes": "Asked for a demo at the Hannover fair.",
}


class LeadIn(BaseModel):
    """A lead, from the vendor's marketing (web forms, marketing automation) or from a
    partner's system (a partner-sourced lead). Sent again with the same `external_id`, it
    updates the lead instead of making another."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_LEAD_EXAMPLE]})

    external_id: ExternalId | None = Field(default=None, description="The lead's id in the "
                                           "sending system; unique per sender (the vendor, or "
                                           "one partner).")
    source_partner_id: uuid.UUID | None = Field(default=None, description="Vendor keys "
                                                "recording a lead a partner passed on: that "
                                                "partner. Partner keys leave it out (their "
                                                "own org).")
    company: LeadCompany
    industry: Label | None = Field(default=None, description="Matched against partners' "
                                   "specialisations by rules that ask for it.")
    product: Sku | None = Field(default=None, description="The product (SKU) of interest.")
    size: CompanySize | None = None
    language: LanguageTag | None = Field(default=None, description="The language the "
                                         "company wants to be served in (BCP 47).")
    contact: LeadContact | None = None
    estimated_amount: Money | None = None
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None
    route: StrictBool = Field(default=True, description="Route it at once by the routing rules "
                        "(otherwise it waits as `new` until the vendor assigns it).")


class LeadBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"items": [_LEAD_EXAMPLE]}]})

    items: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH} leads, each as the single endpoint takes it; each is "
        "validated and received on its own, so one bad item does not refuse the others.",
        json_schema_extra={"items": {"$ref": "#/components/schemas/LeadIn"}})


class LeadBatchItem(BaseModel):
    index: int
    outcome: str = Field(description="created, updated, unchanged (sent before under its "
                         "`external_id`, nothing changed) or error (see `problem`)")
    lead_id: uuid.UUID | None = None
    status: LeadStatus | None = Field(default=None, description="Where it stands now (not told "
                                      "to the intake key)")
    problem: dict[str, Any] | None = Field(default=None, description="Why it failed (RFC 9457 "
                                           "fields: type, title, status, detail, errors)")


class LeadBatchResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    errors: int
    items: list[LeadBatchItem]


class LeadDeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "not_our_region", "note": "We do not serve Bavaria."}]})

    reason: LeadDeclineReason
    note: Note | None = None


class LeadAssignIn(BaseModel):
    """The vendor offers the lead to a partner by hand, or (no partner) routes it again by the
    rules; a lead offered to someone else is withdrawn from them first."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "note": "Their territory."}]})

    partner_id: uuid.UUID | None = None
    respond_within_hours: StrictInt = Field(default=48, ge=1, le=24 * 30)
    note: Note | None = None


class LeadConvertIn(BaseModel):
    """What the registration needs beyond what the lead knows."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "amount": {"amount": "25000.00", "currency": "EUR"},
        "expected_close_date": "2027-03-31", "deal_type": "new"}]})

    amount: Money | None = Field(default=None, description="Defaults to the lead's estimate.")
    expected_close_date: IsoDate
    deal_type: DealType = DealType.new
    products: list[Product] = Field(default_factory=list, max_length=100)
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None


class LeadCapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"paused": True, "paused_until": "2027-01-04T08:00:00Z", "max_open": 10}]})

    paused: StrictBool = False
    paused_until: IsoDateTime | None = Field(default=None, description="Paused until then "
                                             "(RFC 3339); none: until resumed.")
    max_open: StrictInt | None = Field(default=None, ge=0, le=10_000, description="At most this "
                                 "many open (unanswered) offers at once; overrides the "
                                 "rules' caps when lower.")


class LeadCapacityOut(BaseModel):
    partner_id: uuid.UUID
    paused: bool
    paused_until: dt.datetime | None
    max_open: int | None
    open_offers: int = Field(description="Offers awaiting this partner's answer now.")
    version: int


# --- routing rules -------------------------------------------------------------------------

class LeadConditions(BaseModel):
    """Which leads a rule routes: every condition given must hold; one left out always holds."""

    model_config = ConfigDict(extra="forbid")

    countries: list[CountryCode] | None = Field(default=None, max_length=250)
    industries: list[Label] | None = Field(default=None, max_length=100)
    products: list[Sku] | None = Field(default=None, max_length=100)
    sizes: list[CompanySize] | None = Field(default=None, max_length=4)
    languages: list[LanguageTag] | None = Field(default=None, max_length=50)
    sources: list[str] | None = Field(default=None, max_length=2, description="vendor, partner")


class LeadPartnerFilter(BaseModel):
    """Which partners may get the leads a rule routes."""

    model_config = ConfigDict(extra="forbid")

    tiers: list[Label] | None = Field(default=None, max_length=50)
    types: list[Label] | None = Field(default=None, max_length=20)
    certifications: list[Label] | None = Field(default=None, max_length=20, description=(
        "Certification codes the partner must all hold, active."))
    specialisations: list[Label] | None = Field(default=None, max_length=50, description=(
        "The partner has at least one of these specialisations."))
    serves_lead_country: StrictBool = Field(default=True, description="The lead's country is its "
                                      "home country or among the countries it serves.")
    specialised_in_lead_industry: StrictBool = Field(default=False, description="The lead's "
                                               "industry is among its specialisations.")
    speaks_lead_language: StrictBool = Field(default=False, description="The lead's language is "
                                       "among its languages (primary subtag compared).")


class LeadWeighting(BaseModel):
    """Each candidate's weight, a whole number: its tier's (or the default), times its
    win-propensity for this kind of lead when `propensity` is on (in tenths, at least 1)."""

    model_config = ConfigDict(extra="forbid")

    tier_weights: dict[Label, StrictInt] = Field(default_factory=dict, max_length=50,
                                           examples=[{"Gold": 5, "Silver": 2}])
    default_weight: StrictInt = Field(default=1, ge=1, le=1000)
    propensity: StrictBool = False

    @model_validator(mode="after")
    def _positive(self) -> "LeadWeighting":
        if any(w < 1 or w > 1000 for w in self.tier_weights.values()):
            raise ValueError("tier weights are whole numbers from 1 to 1000")
        return self


class LeadCapacity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_open: StrictInt | None = Field(default=None, ge=1, le=10_000, description="Open offers a "
                                 "partner may hold at once.")
    max_per_period: StrictInt | None = Field(default=None, ge=1, le=100_000, description="Offers "
                                       "a partner may get per period.")
    period_days: StrictInt = Field(default=30, ge=1, le=366)


_RULE_EXAMPLE: dict[str, Any] = {
    "name": "DACH security leads to certified partners",
    "conditions": {"countries": ["DE", "AT", "CH"], "products": ["SEC-EDGE"]},
    "partners": {"certifications": ["SEC-101"], "serves_lead_country": True},
    "weighting": {"tier_weights": {"Gold": 5, "Silver": 2}, "default_weight": 1},
    "capacity": {"max_open": 5, "max_per_period": 40, "period_days": 30},
    "respond_within_hours": 48,
}


class LeadRoutingRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_RULE_EXAMPLE]})

    name: Name
    position: StrictInt | None = Field(default=None, ge=0, le=1_000_000, description="Rules are "
                                 "tried in ascending position; default: after the last.")
    conditions: LeadConditions = Field(default_factory=LeadConditions)
    partners: LeadPartnerFilter = Field(default_factory=LeadPartnerFilter)
    weighting: LeadWeighting = Field(default_factory=LeadWeighting)
    capacity: LeadCapacity = Field(default_factory=LeadCapacity)
    respond_within_hours: StrictInt = Field(default=48, ge=1, le=24 * 30)
    enabled: StrictBool = True


class LeadRoutingRulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"enabled": False}]})

    name: Name | None = None
    position: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    conditions: LeadConditions | None = None
    partners: LeadPartnerFilter | None = None
    weighting: LeadWeighting | None = None
    capacity: LeadCapacity | None = None
    respond_within_hours: StrictInt | None = Field(default=None, ge=1, le=24 * 30)
    enabled: StrictBool | None = None


class LeadRoutingRuleOut(BaseModel):
    id: uuid.UUID
    position: int
    name: str
    conditions: LeadConditions
    partners: LeadPartnerFilter
    weighting: LeadWeighting
    capacity: LeadCapacity
    respond_within_hours: int
    enabled: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> "LeadRoutingRuleOut":
        return cls.model_validate(row, from_attributes=True)


class LeadRoutingRuleVersionOut(BaseModel):
    rule_id: uuid.UUID
    version: int
    rule: dict[str, Any]
    changed_by: str
    changed_at: dt.datetime


# --- what goes out -------------------------------------------------------------------------

class LeadCandidateOut(BaseModel):
    partner_id: uuid.UUID
    partner_name: str | None = None
    weight: int
    assigned: int = Field(description="Leads the pool gave this partner before")
    entitled: str = Field(description="Its weighted share of the pool's leads including this "
                          "one (a decimal string)")
    open_offers: int
    max_open: int | None
    outcome: str = Field(description="chosen, passed_over, or not_reached (its turn had not "
                         "come)")
    reason: str | None = Field(default=None, description="Why it was passed over. Known: "
                               "at_capacity, period_cap_reached, paused, declined_before, "
                               "did_not_answer, source_partner, not_due")


class LeadRoutingExplanation(BaseModel):
    """Why an offer went where it went: the rule and version that matched, the pool, and the
    candidates in turn order up to the chosen one and a few after it."""

    rule_id: uuid.UUID | None = None
    rule_version: int | None = None
    rule_name: str | None = None
    rules_tried: int = 0
    pool_id: uuid.UUID | None = None
    pool_members: int = 0
    pool_leads: int = Field(default=0, description="Leads the pool gave out before this one")
    candidates: list[LeadCandidateOut] = Field(default_factory=list)
    passed_over: dict[str, int] = Field(default_factory=dict, description="How many members "
                                        "were passed over, by reason")
    summary: str = Field(default="", description="One sentence for people")


class LeadAssignmentOut(BaseModel):
    id: uuid.UUID
    lead_id: uuid.UUID
    partner_id: uuid.UUID | None
    reason: str = Field(description="routed, assigned_by_hand, recycled, no_rule_matched, "
                        "no_candidate, customer_protected")
    outcome: str = Field(description="pending, accepted, declined, withdrawn (recycled or "
                         "reassigned), converted, queued")
    outcome_reason: str | None
    outcome_note: str | None
    explanation: LeadRoutingExplanation | None = Field(description="Vendor readers only")
    actor: str
    offered_at: dt.datetime
    respond_by: dt.datetime | None
    decided_at: dt.datetime | None

    @classmethod
    def seen_by(cls, row: Any, principal: Principal) -> "LeadAssignmentOut":
        return cls(id=row.id, lead_id=row.lead_id, partner_id=row.partner_id,
                   reason=row.reason, outcome=row.outcome, outcome_reason=row.outcome_reason,
                   outcome_note=row.outcome_note,
                   explanation=None if principal.is_partner
                   else LeadRoutingExplanation.model_validate(row.explanation),
                   actor=row.actor if not principal.is_partner else "",
                   offered_at=row.offered_at, respond_by=row.respond_by,
                   decided_at=row.decided_at)


class LeadOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_LEAD_EXAMPLE, "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "source": "vendor",
        "source_partner_id": None, "status": "offered",
        "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f", "partner_name": "Initech GmbH",
        "flagged": False, "conflicts": [], "queue_reason": None,
        "respond_by": "2026-12-09T10:00:00Z", "accepted_at": None, "expires_at": None,
        "deal_id": None, "offers": 1, "version": 2,
        "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z"}]})

    id: uuid.UUID
    external_id: str | None = None
    source: str
    source_partner_id: uuid.UUID | None = None
    company: LeadCompany
    industry: str | None = None
    product: str | None = None
    size: str | None = None
    language: str | None = None
    contact: LeadContact | None = None
    estimated_amount: Money | None = None
    notes: str | None = None
    status: LeadStatus
    partner_id: uuid.UUID | None = None
    partner_name: str | None = None
    flagged: bool = Field(description="Its company is a customer another partner registered "
                          "(or a vendor's direct account): not routed, queued for the vendor")
    conflicts: list[dict[str, Any]] = Field(description="What the conflict check found "
                                            "(vendor readers only)")
    queue_reason: str | None = None
    respond_by: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    deal_id: uuid.UUID | None = None
    offers: int = Field(description="How many times it was offered")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def seen_by(cls, row: Any, principal: Principal, partner_name: str | None = None
                ) -> "LeadOut":
        vendor = not principal.is_partner
        # A partner that passed the lead on sees it, but not which partner holds it now.
        holder = vendor or row.partner_id == principal.partner_id
        return cls(
            id=row.id, external_id=row.external_id if vendor or row.source_partner_id
            == principal.partner_id else None, source=row.source,
            source_partner_id=row.source_partner_id,
            company=LeadCompany(name=row.company_name, domain=row.company_domain,
                            country=row.company_country),
            industry=row.industry, product=row.product, size=row.size, language=row.language,
            contact=LeadContact.model_validate(row.contact) if row.contact else None,
            estimated_amount=Money.of(row.estimated_amount, row.currency)
            if row.estimated_amount is not None else None,
            notes=row.notes, status=row.status, partner_id=row.partner_id if holder else None,
            partner_name=partner_name if holder else None, flagged=row.flagged,
            conflicts=row.conflicts if vendor else [], queue_reason=row.queue_reason,
            respond_by=row.respond_by if holder else None, accepted_at=row.accepted_at,
            expires_at=row.expires_at,
            deal_id=row.deal_id, offers=row.offers, version=row.version,
            created_at=row.created_at, updated_at=row.updated_at)


class LeadReceipt(BaseModel):
    """What the intake key learns of a lead it submitted: that it arrived, under which id. Not
    where it went, nor whether its company is another partner's customer: a key behind a
    public web form must not be a way to probe the programme."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "external_id": "00Q5e00000ABCDe",
        "received_at": "2026-12-07T10:00:00Z"}]})

    id: uuid.UUID
    external_id: str | None = None
    received_at: dt.datetime


class LeadRecommendation(BaseModel):
    partner_id: uuid.UUID
    partner_name: str | None
    probability: Decimal | None = Field(description="Estimated chance it wins this kind of "
                                        "deal; none when its history is too thin to say")
    sample_size: int
    segment: str
    basis: str = Field(description="estimated or insufficient_history")


class LeadRecommendations(BaseModel):
    lead_id: uuid.UUID
    items: list[LeadRecommendation]


class LeadDryRunOut(BaseModel):
    """What routing would do with the lead now, without writing or moving any pool."""

    status: LeadStatus
    partner_id: uuid.UUID | None
    reason: str
    flagged: bool
    explanation: LeadRoutingExplanation

