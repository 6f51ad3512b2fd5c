import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from prm_platform.money import Money
from prm_platform.types import IsoDate


class VendorFigureKind(StrEnum):
    """A figure of the vendor's own: `total_pipeline`, its whole pipeline of a period;
    `acquisition_cost`, a cost line of acquiring partners."""

    total_pipeline = "total_pipeline"
    acquisition_cost = "acquisition_cost"


class AttributionVendorFigureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "kind": "total_pipeline", "period_from": "2026-10-01", "period_to": "2026-11-01",
        "amount": {"amount": "2500000.00", "currency": "EUR"},
        "description": "CRM: opportunities created in October, all channels"}]})

    kind: VendorFigureKind = Field(description=(
        "total_pipeline: the vendor's whole pipeline created in the period, every channel "
        "(one per period and currency); acquisition_cost: a cost line of acquiring partners "
        "in the period (recruitment, events, onboarding staff), as many as there are"))
    period_from: IsoDate = Field(description="First day of the period")
    period_to: IsoDate = Field(description="The day after the period")
    amount: Money
    partner_type: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = \
        Field(default=None, description="An acquisition cost of partners of this type only")
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | \
        None = None


class AttributionVendorFigureOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1d0-4b2c-7e3f-8a9b-0c1d2e3f4a60", "kind": "total_pipeline",
        "period_from": "2026-10-01", "period_to": "2026-11-01",
        "amount": {"amount": "2500000.00", "currency": "EUR"}, "partner_type": None,
        "description": "CRM: opportunities created in October, all channels",
        "recorded_by": "key-vendor", "recorded_at": "2026-11-02T06:00:00Z", "version": 1}]})

    id: uuid.UUID
    kind: VendorFigureKind
    period_from: dt.date
    period_to: dt.date
    amount: Money
    partner_type: str | None = None
    description: str | None = None
    recorded_by: str
    recorded_at: dt.datetime
    version: int = Field(default=1, description="Figures never change once recorded")
