import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from prm_platform.types import DecimalText


class TouchKind(StrEnum):
    """What a partner did on a deal or its customer: `registration` (from the deal's own
    events) or an influence recorded through the API."""

    registration = "registration"
    co_sell = "co_sell"
    referral = "referral"
    consulting = "consulting"
    implementation = "implementation"
    integration = "integration"
    technical_validation = "technical_validation"
    marketing = "marketing"
    training = "training"
    other = "other"


class MarkovChain(StrEnum):
    """The Markov model's chain: `full`, every partner of the history its own state;
    `deal`, partners not on the deal being credited merged into one state."""

    full = "full"
    deal = "deal"


class ShapleyGame(StrEnum):
    """The Shapley model's game: `history`, over the won deals of the history; `deal`, each
    deal's partners cut down to those of the deal being credited."""

    history = "history"
    deal = "deal"


Weight = Annotated[DecimalText, Field(ge=0, le=1000, max_digits=10, decimal_places=4)]


def _registration_only() -> list[TouchKind]:
    return [TouchKind.registration]


def _default_kind_weights() -> dict[TouchKind, Decimal]:
    return {TouchKind.registration: Decimal(3), TouchKind.co_sell: Decimal(2),
            TouchKind.referral: Decimal(2)}


class AttributionSourcingRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    touch_kinds: list[TouchKind] = Field(default_factory=_registration_only, min_length=1,
                                         max_length=len(TouchKind), description=(
                                             "A partner with a touch of one of these kinds "
                                             "sourced the deal; every other partner "
                                             "influenced it."))
    requires_approval: bool = Field(default=True, strict=True, description=(
        "Only when the deal's registration was approved (or won): an unapproved "
        "registration is an influence."))


class AttributionRulesDocument(BaseModel):
    """What decides sourced vs influenced and parameterises the models. Stored with every
    result it produced."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "sourcing": {"touch_kinds": ["registration"], "requires_approval": True},
        "time_decay_half_life_days": "7", "custom_kind_weights": {
            "registration": "3", "co_sell": "2", "referral": "2", "consulting": "1"},
        "custom_default_weight": "1", "history_deals": 2000, "markov_chain": "full",
        "markov_exact_up_to": 40, "shapley_game": "history"}]})

    sourcing: AttributionSourcingRule = Field(default_factory=AttributionSourcingRule)
    time_decay_half_life_days: DecimalText = Field(default=Decimal(7), gt=0, le=3650,
                                                   max_digits=8, decimal_places=3)
    custom_kind_weights: dict[TouchKind, Weight] = Field(
        default_factory=_default_kind_weights,
        description="The custom model's weight of a touch of each kind.")
    custom_default_weight: Weight = Field(default=Decimal(1), description=(
        "The weight of a touch whose kind is not listed."))
    history_deals: StrictInt = Field(default=2000, ge=10, le=20000, description=(
        "The data-driven models (Markov, Shapley) learn from this many most recently closed "
        "deals."))
    markov_chain: MarkovChain = Field(default=MarkovChain.full, description=(
        "`full`: the absorbing chain of the whole history, every partner its own state (a "
        "partner's removal effect is the same whichever deal is credited). `deal`: partners "
        "not on the deal being credited merged into one state, as rules versions before "
        "`full` computed it."))
    markov_exact_up_to: StrictInt = Field(default=40, ge=1, le=120, description=(
        "The chain is solved in exact rationals while its largest group of partners that "
        "hand off to each other in a cycle has at most this many; above, by propagation in "
        "34-digit decimals, each removal effect with its error bound."))
    shapley_game: ShapleyGame = Field(default=ShapleyGame.history, description=(
        "`history`: v(S) = the won deals of the history whose partners are all in S. `deal`: "
        "the same with each deal's partners cut down to those of the deal being credited, as "
        "rules versions before `history` computed it."))


class AttributionRulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "rules": {"sourcing": {"touch_kinds": ["registration"], "requires_approval": True},
                  "time_decay_half_life_days": "14"},
        "notes": "Half-life doubled after the 2026 programme review"}]})

    rules: AttributionRulesDocument
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = \
        None


class AttributionRulesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "version": 2,
        "rules": {"sourcing": {"touch_kinds": ["registration"], "requires_approval": True},
                  "time_decay_half_life_days": "14",
                  "custom_kind_weights": {"registration": "3", "co_sell": "2"},
                  "custom_default_weight": "1", "history_deals": 2000,
                  "markov_chain": "full", "markov_exact_up_to": 40, "shapley_game": "history"},
        "notes": "Half-life doubled after the 2026 programme review",
        "published_by": "key-vendor", "published_at": "2026-11-22T09:30:00Z"}]})

    id: uuid.UUID
    version: int
    rules: AttributionRulesDocument
    notes: str | None = None
    published_by: str
    published_at: dt.datetime
