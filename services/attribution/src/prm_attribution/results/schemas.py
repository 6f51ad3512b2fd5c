import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prm_attribution.touchpoints.schemas import TouchpointSource
from prm_platform.money import Money


class AttributionModel(StrEnum):
    """How a deal's amount is shared among the partners that touched it."""

    first_touch = "first_touch"
    last_touch = "last_touch"
    linear = "linear"
    time_decay = "time_decay"
    position_based = "position_based"
    w_shaped = "w_shaped"
    custom_weights = "custom_weights"
    markov = "markov"
    shapley = "shapley"


class AttributionBasis(StrEnum):
    """What a deal's credits are computed on: `won`, its revenue; `pipeline`, an open deal's
    amount."""

    won = "won"
    pipeline = "pipeline"


class AttributionRole(StrEnum):
    """A partner's part in a deal, by the rules version: it `sourced` the deal or
    `influenced` it."""

    sourced = "sourced"
    influenced = "influenced"


_DEAL = "0193c1d0-2b2c-7e3f-8a9b-0c1d2e3f4a5c"
_SOURCE = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"
_SI = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5e"


class AttributionModelCredit(BaseModel):
    amount: Money = Field(description="The credit: integer minor units of the deal's "
                          "currency; a model's credits sum exactly to the deal's amount")
    share: str = Field(description="The exact share before rounding, as a fraction p/q")


def _partner_name_field() -> Any:
    return Field(default=None, description="From the partner directory; null while it has not "
                 "heard of the partner")


class AttributionCreditedPartner(BaseModel):
    partner_id: uuid.UUID
    partner_name: str | None = _partner_name_field()
    role: AttributionRole = Field(description="By the rules version")
    amount: Money
    share: str = Field(description="The exact share before rounding, as a fraction p/q")


class AttributedDealOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "deal_id": _DEAL, "customer_name": "Globex", "customer_domain": "globex.example",
        "status": "won", "basis": "won", "model": "linear",
        "rules_version": 1, "amount": {"amount": "48000.00", "currency": "EUR"},
        "updated_at": "2026-11-22T09:30:00Z",
        "credits": [{"partner_id": _SOURCE, "partner_name": "Acme Cloud GmbH",
                     "role": "sourced", "share": "1/2",
                     "amount": {"amount": "24000.00", "currency": "EUR"}},
                    {"partner_id": _SI, "partner_name": "Initech Consulting",
                     "role": "influenced", "share": "1/2",
                     "amount": {"amount": "24000.00", "currency": "EUR"}}]}]})

    deal_id: uuid.UUID
    customer_name: str | None = Field(default=None, description="As the deal's registration "
                                      "told it")
    customer_domain: str | None = None
    status: str = Field(description="The deal's status as its events told it")
    basis: AttributionBasis = Field(description="won: revenue; pipeline: an open deal's "
                                    "amount")
    model: AttributionModel
    rules_version: int
    amount: Money
    updated_at: dt.datetime = Field(description="When the deal or its credits last changed "
                                    "here: pass the last one seen as `updated_since` to pull "
                                    "what changed")
    credits: list[AttributionCreditedPartner] = Field(description=(
        "A partner key sees its own org's credit only"))


class AttributionExplainedTouch(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = _partner_name_field()
    kind: str
    occurred_at: dt.datetime
    source: TouchpointSource
    evidence: dict[str, Any]
    position: int = Field(description="1-based place in the deal's touch order (time, then "
                          "id)")


class AttributionExplainedPartner(BaseModel):
    partner_id: uuid.UUID
    partner_name: str | None = _partner_name_field()
    role: AttributionRole
    credits: dict[AttributionModel, AttributionModelCredit] = Field(description=(
        "Its credit under each model, side by side"))


class AttributionExplanation(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "deal_id": _DEAL, "status": "won", "basis": "won", "rules_version": 1,
        "rules_versions": [1], "amount": {"amount": "48000.00", "currency": "EUR"},
        "computed_at": "2026-11-22T09:30:00Z",
        "touches": [
            {"id": "0193c1d0-3b2c-7e3f-8a9b-0c1d2e3f4a5d", "partner_id": _SOURCE,
             "kind": "registration", "occurred_at": "2026-09-01T10:00:00Z", "source": "event",
             "evidence": {"event_type": "prm.deal.registered.v1",
                          "description": "Registered the deal (submitted)"}, "position": 1},
            {"id": "0193c1d0-3b2c-7e3f-8a9b-0c1d2e3f4a5f", "partner_id": _SI,
             "kind": "consulting", "occurred_at": "2026-10-02T14:00:00Z", "source": "api",
             "evidence": {"description": "Architecture workshop"}, "position": 2}],
        "partners": [
            {"partner_id": _SOURCE, "role": "sourced", "credits": {
                "first_touch": {"amount": {"amount": "48000.00", "currency": "EUR"},
                                "share": "1/1"},
                "linear": {"amount": {"amount": "24000.00", "currency": "EUR"},
                           "share": "1/2"}}},
            {"partner_id": _SI, "role": "influenced", "credits": {
                "first_touch": {"amount": {"amount": "0.00", "currency": "EUR"},
                                "share": "0/1"},
                "linear": {"amount": {"amount": "24000.00", "currency": "EUR"},
                           "share": "1/2"}}}],
        "models": {"linear": {}, "markov": {
            "chain": "full", "history_deals": 120, "chain_states": 14,
            "largest_cycle_group": 1, "exact": True, "conversion_probability": "3/5"}}}]})

    deal_id: uuid.UUID
    status: str
    basis: AttributionBasis
    rules_version: int = Field(description="The rules version these credits were computed by")
    rules_versions: list[int] = Field(description="Every rules version the deal has results "
                                      "of (ask for one with `?rules_version=`)")
    amount: Money
    computed_at: dt.datetime
    touches: list[AttributionExplainedTouch] = Field(description="Every touch counted, in order (a "
                                          "partner key: its own org's)")
    partners: list[AttributionExplainedPartner]
    models: dict[AttributionModel, dict[str, Any]] = Field(description="What each model used: the "
                                                "half-life, the history size, the Markov "
                                                "chain and removal effects (with an error bound "
                                                "when not exact), the Shapley game and values")
