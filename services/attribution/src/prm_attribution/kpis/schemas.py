import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from prm_platform.money import Money, minor_units


class KpiGrouping(StrEnum):
    """How programme KPIs are grouped: the `programme` as a whole, or by the partners'
    `partner_type`, `tier` or `country`."""

    programme = "programme"
    partner_type = "partner_type"
    tier = "tier"
    country = "country"


class ProgrammeCostKind(StrEnum):
    """What the programme spent on partners: approved MDF claims (`mdf`), rebates and
    SPIFFs."""

    mdf = "mdf"
    rebate = "rebate"
    spiff = "spiff"


class AttributionNetAmount(BaseModel):
    """A net amount in the base currency: negative when a period's reversals exceed its
    costs."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [
        {"amount": "4200.00", "currency": "EUR"}]})

    amount: str = Field(pattern=r"^-?[0-9]{1,19}(\.[0-9]{1,4})?$",
                        description="Decimal string, no exponent")
    currency: str

    @classmethod
    def of(cls, minor: int, currency: str) -> "AttributionNetAmount":
        digits = minor_units(currency)
        return cls(amount=f"{Decimal(minor).scaleb(-digits):.{digits}f}", currency=currency)


class AttributionFxRateUsed(BaseModel):
    currency: str
    rate: str
    valid_on: dt.date


class AttributionKpiRow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "partner_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "partner_name": "Acme Cloud GmbH",
        "partner_type": "msp", "partner_tier": "Gold", "partner_country": "DE",
        "sourced_revenue": {"amount": "48000.00", "currency": "EUR"},
        "influenced_revenue": {"amount": "5000.00", "currency": "EUR"},
        "sourced_pipeline": {"amount": "12000.00", "currency": "EUR"},
        "influenced_pipeline": {"amount": "0.00", "currency": "EUR"},
        "registrations": 4, "registrations_won": 1, "registrations_decided": 2,
        "win_rate": "0.5000", "time_to_first_deal_days": 41, "time_to_first_value_days": 23,
        "pipeline_contribution": "0.0048",
        "programme_cost": {"amount": "4200.00", "currency": "EUR"},
        "programme_cost_by_kind": {"mdf": {"amount": "3000.00", "currency": "EUR"},
                                   "rebate": {"amount": "960.00", "currency": "EUR"},
                                   "spiff": {"amount": "240.00", "currency": "EUR"}},
        "payouts_paid": {"amount": "1200.00", "currency": "EUR"}, "ropi": "12.6190",
        "certifications_earned": 2, "days_to_first_certification": 18,
        "deal_ids": ["0193c1d0-2b2c-7e3f-8a9b-0c1d2e3f4a5c"], "unconverted_deal_ids": [],
        "cost_ids": ["0193c1d0-5b2c-7e3f-8a9b-0c1d2e3f4a61"],
        "payout_batch_ids": ["0193c1d0-6b2c-7e3f-8a9b-0c1d2e3f4a62"],
        "unconverted_cost_ids": [],
        "certification_ids": ["0193c1d0-7b2c-7e3f-8a9b-0c1d2e3f4a63"],
        "vendor_figure_ids": ["0193c1d0-4b2c-7e3f-8a9b-0c1d2e3f4a60"],
        "fx_rates_used": [{"currency": "USD", "rate": "0.9240000000",
                           "valid_on": "2026-11-01"}]}]})

    partner_id: uuid.UUID
    partner_name: str | None = Field(default=None, description="From the partner directory")
    partner_type: str | None = None
    partner_tier: str | None = None
    partner_country: str | None = None
    sourced_revenue: Money = Field(description="Credits on deals won in the period where the "
                                   "partner is the source, in the base currency (the credits "
                                   "of one currency converted at one rate are summed, then "
                                   "converted once, rounded half-even)")
    influenced_revenue: Money
    sourced_pipeline: Money = Field(description="Credits on open deals registered in the "
                                    "period")
    influenced_pipeline: Money
    registrations: int = Field(description="Deals the partner registered in the period")
    registrations_won: int
    registrations_decided: int = Field(description="Of those, won, lost, rejected, expired "
                                       "or with the win reversed")
    win_rate: str | None = Field(default=None, description="won / decided, 4 decimals; null "
                                 "with nothing decided")
    time_to_first_deal_days: int | None = Field(default=None, description="Days from joining "
                                                "the programme to the first won deal (ever)")
    time_to_first_value_days: int | None = Field(default=None, description=(
        "Days from the partner's onboarding completion (else its first activation) to its "
        "first won deal; 0 when it won while onboarding"))
    pipeline_contribution: str | None = Field(default=None, description=(
        "The partner's pipeline (sourced and influenced) over the vendor's total pipeline of "
        "the period (`/v1/attribution-vendor-figures`), 4 decimals; null without that total"))
    programme_cost: AttributionNetAmount = Field(description=(
        "What the programme spent on the partner in the period: approved MDF claims, rebates "
        "and SPIFFs accrued, net of their reversals"))
    programme_cost_by_kind: dict[ProgrammeCostKind, AttributionNetAmount]
    payouts_paid: Money = Field(description="Payout batches paid in the period: the cash side "
                                "of the costs (it pays them, so it is not added to them)")
    ropi: str | None = Field(default=None, description="Return on partner investment: the "
                             "partner's revenue (sourced and influenced) over its programme "
                             "cost, 4 decimals; null unless the cost is positive")
    certifications_earned: int = Field(default=0, description="Certifications its people "
                                       "earned in the period")
    days_to_first_certification: int | None = Field(default=None, description=(
        "Certification velocity: days from joining the programme to its first certification"))
    deal_ids: list[uuid.UUID] = Field(description="The deals behind the revenue and pipeline "
                                      "figures (at most 200: the first by id)")
    unconverted_deal_ids: list[uuid.UUID] = Field(description="Deals left out of the figures: "
                                                  "no FX rate to the base currency on or before "
                                                  "their date")
    cost_ids: list[uuid.UUID] = Field(default_factory=list, description="The programme "
                                      "cost rows behind the cost (at most 200)")
    payout_batch_ids: list[uuid.UUID] = Field(default_factory=list)
    unconverted_cost_ids: list[uuid.UUID] = Field(default_factory=list, description=(
        "Costs, payouts and vendor figures left out for want of an FX rate (the contribution "
        "is null while a part of the vendor's total has none)"))
    certification_ids: list[uuid.UUID] = Field(default_factory=list)
    vendor_figure_ids: list[uuid.UUID] = Field(default_factory=list, description=(
        "The vendor's total pipeline figures the contribution was measured against"))
    fx_rates_used: list[AttributionFxRateUsed]


class AttributionKpiGroup(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "group_by": "partner_type", "group": "msp", "partners": 12,
        "sourced_revenue": {"amount": "480000.00", "currency": "EUR"},
        "influenced_revenue": {"amount": "52000.00", "currency": "EUR"},
        "sourced_pipeline": {"amount": "120000.00", "currency": "EUR"},
        "influenced_pipeline": {"amount": "0.00", "currency": "EUR"},
        "revenue": {"amount": "532000.00", "currency": "EUR"},
        "pipeline": {"amount": "120000.00", "currency": "EUR"},
        "vendor_total_pipeline": {"amount": "2500000.00", "currency": "EUR"},
        "pipeline_contribution": "0.0480",
        "programme_cost": {"amount": "42000.00", "currency": "EUR"},
        "programme_cost_by_kind": {"mdf": {"amount": "30000.00", "currency": "EUR"},
                                   "rebate": {"amount": "9600.00", "currency": "EUR"},
                                   "spiff": {"amount": "2400.00", "currency": "EUR"}},
        "payouts_paid": {"amount": "12000.00", "currency": "EUR"}, "ropi": "12.6667",
        "partners_activated": 3, "acquisition_cost": {"amount": "15000.00", "currency": "EUR"},
        "partner_acquisition_cost": {"amount": "5000.00", "currency": "EUR"},
        "customers_acquired": 4,
        "customer_lifetime_revenue": {"amount": "210000.00", "currency": "EUR"},
        "repeat_revenue": {"amount": "30000.00", "currency": "EUR"},
        "cltv": {"amount": "52500.00", "currency": "EUR"}, "certifications_earned": 9,
        "cohort_partners": 3, "days_to_first_certification_mean": "21.33",
        "time_to_first_deal_days_mean": "64.00", "time_to_first_value_days_mean": "40.00",
        "partner_ids": [], "activated_partner_ids": [],
        "deal_ids": [], "cost_ids": [], "payout_batch_ids": [], "certification_ids": [],
        "customer_deal_ids": [], "vendor_figure_ids": [], "unconverted_ids": [],
        "fx_rates_used": []}]})

    group_by: KpiGrouping
    group: str = Field(description="The partner type, tier or country (unknown when the "
                       "directory does not say); programme for the whole")
    partners: int
    sourced_revenue: Money
    influenced_revenue: Money
    sourced_pipeline: Money
    influenced_pipeline: Money
    revenue: Money = Field(description="Sourced and influenced revenue")
    pipeline: Money = Field(description="Sourced and influenced pipeline")
    vendor_total_pipeline: Money | None = Field(description="The vendor's total pipeline of "
                                                "the period, from its own figures")
    pipeline_contribution: str | None = Field(description="pipeline / vendor_total_pipeline, "
                                              "4 decimals")
    programme_cost: AttributionNetAmount
    programme_cost_by_kind: dict[ProgrammeCostKind, AttributionNetAmount]
    payouts_paid: Money
    ropi: str | None = Field(description="revenue / programme_cost, 4 decimals; null unless "
                             "the cost is positive")
    partners_activated: int = Field(description="Partners that first became active in the "
                                    "period")
    acquisition_cost: Money | None = Field(description=(
        "The vendor's acquisition cost lines of the period (by partner type: the lines naming "
        "the type); null by tier or country, which the lines do not name"))
    partner_acquisition_cost: Money | None = Field(description=(
        "acquisition_cost / partners_activated, rounded half-even"))
    customers_acquired: int = Field(description="Customers whose first won deal closed in the "
                                    "period, registered by a partner of the group")
    customer_lifetime_revenue: Money = Field(description="Every won deal of those customers "
                                             "(new, renewal, upsell) closed before `to`")
    repeat_revenue: Money = Field(description="Of it, renewals and upsells")
    cltv: Money | None = Field(description="customer_lifetime_revenue / customers_acquired, "
                               "rounded half-even")
    certifications_earned: int
    cohort_partners: int = Field(description="The onboarding cohort: partners of the group "
                                 "that joined in the period")
    days_to_first_certification_mean: str | None = Field(description=(
        "Certification velocity of the cohort: mean days from joining to the first "
        "certification, 2 decimals"))
    time_to_first_deal_days_mean: str | None = Field(description=(
        "The cohort's mean days from joining to the first won deal, 2 decimals"))
    time_to_first_value_days_mean: str | None = Field(description=(
        "The cohort's mean time to first value (see the per-partner KPI), 2 decimals"))
    partner_ids: list[uuid.UUID]
    activated_partner_ids: list[uuid.UUID]
    deal_ids: list[uuid.UUID]
    cost_ids: list[uuid.UUID]
    payout_batch_ids: list[uuid.UUID]
    certification_ids: list[uuid.UUID]
    customer_deal_ids: list[uuid.UUID] = Field(description="The won deals behind the CLTV")
    vendor_figure_ids: list[uuid.UUID]
    unconverted_ids: list[uuid.UUID] = Field(description="Deals, costs, payouts and vendor "
                                             "figures left out for want of an FX rate")
    fx_rates_used: list[AttributionFxRateUsed]


class AttributionKpiGroups(BaseModel):
    items: list[AttributionKpiGroup] = Field(description="One per group, in the group's "
                                             "order; bounded by the groups (at most the "
                                             "countries), so not paginated")


class AttributionMdfActivityRow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "request_id": "0193c1d0-8b2c-7e3f-8a9b-0c1d2e3f4a64",
        "partner_id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "partner_name": "Acme Cloud GmbH",
        "activity_type": "event",
        "start_date": "2026-10-05", "end_date": "2026-10-06", "status": "claimed",
        "cost": {"amount": "3000.00", "currency": "EUR"},
        "revenue": {"amount": "24000.00", "currency": "EUR"}, "roi": "7.0000",
        "cost_ids": [], "deal_ids": [], "touchpoint_ids": [], "unconverted_ids": [],
        "fx_rates_used": []}]})

    request_id: uuid.UUID = Field(description="The MDF fund request: the activity")
    partner_id: uuid.UUID
    partner_name: str | None = Field(default=None, description="From the partner directory; "
                                     "null while it has not heard of the partner")
    activity_type: str | None
    start_date: dt.date | None
    end_date: dt.date | None
    status: str
    cost: Money = Field(description="Approved claims on the activity, before `to`")
    revenue: Money = Field(description="The activity's part of its partner's credits on deals "
                           "won before `to` that its linked touches count for")
    roi: str | None = Field(description="(revenue - cost) / cost, 4 decimals; null without "
                            "cost")
    cost_ids: list[uuid.UUID]
    deal_ids: list[uuid.UUID]
    touchpoint_ids: list[uuid.UUID] = Field(description="The touches linking it to the deals")
    unconverted_ids: list[uuid.UUID]
    fx_rates_used: list[AttributionFxRateUsed]


class AttributionCampaignRow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "campaign_id": "0193c1d0-9b2c-7e3f-8a9b-0c1d2e3f4a70", "name": "Cloud security week",
        "status": "published", "launches": 3, "partners": 2, "touches": 41, "won_deals": 2,
        "cost": {"amount": "1000.00", "currency": "EUR"},
        "revenue": {"amount": "2500.00", "currency": "EUR"}, "roi": "1.5000",
        "launch_ids": [], "request_ids": [], "cost_ids": [], "deal_ids": [],
        "touchpoint_ids": [], "unconverted_ids": [], "fx_rates_used": []}]})

    campaign_id: uuid.UUID
    name: str = Field(description="The campaign's name as last published (until its own "
                      "event arrives, as its first launch named it)")
    status: str | None = Field(description="published or retired; null until the campaign's "
                               "own event arrives")
    launches: int = Field(description="Its launches in the period (a partner key: its own)")
    partners: int = Field(description="The partners that launched it in the period")
    touches: int = Field(description="The touches its launches' engagements made before `to`")
    won_deals: int = Field(description="The deals won before `to` those touches count for")
    cost: Money = Field(description="Approved claims before `to` on the MDF fund requests "
                        "funding its launches (each request once, the launch's partner's only)")
    revenue: Money = Field(description="The return: for each won deal its touches count for, "
                           "the partner's credit on it times the partner's touches on the deal "
                           "from the launches over all its touches on the deal")
    roi: str | None = Field(description="(revenue - cost) / cost, 4 decimals; null without "
                            "cost")
    launch_ids: list[uuid.UUID]
    request_ids: list[uuid.UUID] = Field(description="The MDF fund requests funding them")
    cost_ids: list[uuid.UUID]
    deal_ids: list[uuid.UUID]
    touchpoint_ids: list[uuid.UUID] = Field(description="The touches of its launches")
    unconverted_ids: list[uuid.UUID]
    fx_rates_used: list[AttributionFxRateUsed]


class AttributionMdfActivityTypeRow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "activity_type": "event", "activities": 4,
        "cost": {"amount": "12000.00", "currency": "EUR"},
        "revenue": {"amount": "60000.00", "currency": "EUR"}, "roi": "4.0000",
        "request_ids": [], "unconverted_ids": [], "fx_rates_used": []}]})

    activity_type: str
    activities: int
    cost: Money
    revenue: Money
    roi: str | None
    request_ids: list[uuid.UUID]
    unconverted_ids: list[uuid.UUID]
    fx_rates_used: list[AttributionFxRateUsed]


class AttributionMdfActivityTypes(BaseModel):
    items: list[AttributionMdfActivityTypeRow] = Field(description="One per activity type "
                                                       "(a short list), so not paginated")
