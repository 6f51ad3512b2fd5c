import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from prm_platform.money import Money
from prm_platform.types import Currency

Rate = Annotated[str, Field(pattern=r"^[0-9]{1,13}(\.[0-9]{1,10})?$", examples=["1.0825"],
                            description="Units of the base currency per unit of `currency` "
                            "(decimal string)")]


class AttributionFxRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "currency": "USD", "rate": "0.9240", "valid_on": "2026-11-01"}]})

    currency: Currency
    rate: Rate
    valid_on: dt.date = Field(description="The rate holds from this day until the next rate "
                              "of the currency")


class AttributionFxRateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1d0-4b2c-7e3f-8a9b-0c1d2e3f4a5b", "currency": "USD",
        "base_currency": "EUR", "rate": "0.9240000000", "valid_on": "2026-11-01",
        "recorded_by": "key-vendor", "recorded_at": "2026-11-01T06:00:00Z", "version": 1}]})

    id: uuid.UUID
    currency: str
    base_currency: str
    rate: str
    valid_on: dt.date
    recorded_by: str
    recorded_at: dt.datetime
    version: int = 1


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
        "win_rate": "0.5000", "time_to_first_deal_days": 41,
        "deal_ids": ["0193c1d0-2b2c-7e3f-8a9b-0c1d2e3f4a5c"], "unconverted_deal_ids": [],
        "fx_rates_used": [{"currency": "USD", "rate": "0.9240000000",
                           "valid_on": "2026-11-01"}]}]})

    partner_id: uuid.UUID
    partner_name: str | None = Field(default=None, description="From the partner directory")
    partner_type: str | None = None
    partner_tier: str | None = None
    partner_country: str | None = None
    sourced_revenue: Money = Field(description="Credits on deals won in the period where the "
                                   "partner is the source, in the base currency")
    influenced_revenue: Money
    sourced_pipeline: Money = Field(description="Credits on open deals registered in the "
                                    "period")
    influenced_pipeline: Money
    registrations: int = Field(description="Deals the partner registered in the period")
    registrations_won: int
    registrations_decided: int = Field(description="Of those, won, lost, rejected or expired")
    win_rate: str | None = Field(default=None, description="won / decided, 4 decimals; null "
                                 "with nothing decided")
    time_to_first_deal_days: int | None = Field(default=None, description="Days from joining "
                                                "the programme to the first won deal (ever)")
    deal_ids: list[uuid.UUID] = Field(description="The deals behind the revenue and pipeline "
                                      "figures (at most 200)")
    unconverted_deal_ids: list[uuid.UUID] = Field(description="Deals left out of the figures: "
                                                  "no FX rate to the base currency on or before "
                                                  "their date")
    fx_rates_used: list[AttributionFxRateUsed]
