import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from prm_deals.registrations.models import Deal
from prm_platform.money import Money
from prm_platform.types import CountryCode, DomainName, IsoDate, Name


# The registration's lifecycle as the design names it; review actions move it past `registered`.
class DealStatus(StrEnum):
    """Where a deal registration is in its lifecycle."""

    registered = "registered"
    approved = "approved"
    rejected = "rejected"
    won = "won"
    lost = "lost"
    expired = "expired"

MAX_CLOSE_YEARS = 10
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]

# The earliest calendar day that is still today somewhere (UTC-12): a partner late in its own
# day must not be told that today is in the past.
_EARLIEST_TODAY = dt.timezone(dt.timedelta(hours=-12))


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    domain: DomainName
    country: CountryCode


class DealRegistration(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "customer": {"name": "Globex Corporation", "domain": "globex.example",
                         "country": "FR"},
            "amount": {"amount": "48000.00", "currency": "EUR"},
            "expected_close_date": "2027-03-31",
            "notes": "Renewal of 120 seats, competitive against a direct offer.",
        }]},
    )

    partner_id: uuid.UUID | None = Field(
        default=None,
        description="The partner org registering the deal. Partner keys may leave it out (it is "
        "their own org) and may not name another; vendor keys must send it.",
    )
    customer: Customer
    amount: Money = Field(description="Expected deal value; more than zero.")
    expected_close_date: IsoDate = Field(
        description=f"Today or later, at most {MAX_CLOSE_YEARS} years ahead; YYYY-MM-DD.")
    notes: Notes | None = None

    @field_validator("amount")
    @classmethod
    def _more_than_zero(cls, amount: Money) -> Money:
        if amount.value <= 0:
            raise ValueError("a deal's amount must be more than zero")
        return amount

    @field_validator("expected_close_date")
    @classmethod
    def _not_in_the_past(cls, value: dt.date) -> dt.date:
        today = dt.datetime.now(_EARLIEST_TODAY).date()
        if value < today:
            raise ValueError("the expected close date is in the past")
        if value > today.replace(year=today.year + MAX_CLOSE_YEARS, day=min(today.day, 28)):
            raise ValueError(f"the expected close date is more than {MAX_CLOSE_YEARS} years "
                             "ahead")
        return value


class DealOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
            "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
            "customer": {"name": "Globex Corporation", "domain": "globex.example",
                         "country": "FR"},
            "amount": {"amount": "48000.00", "currency": "EUR"},
            "expected_close_date": "2027-03-31",
            "notes": "Renewal of 120 seats, competitive against a direct offer.",
            "status": "registered", "version": 1,
            "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z",
        }]},
    )

    id: uuid.UUID
    partner_id: uuid.UUID
    customer: Customer
    amount: Money
    expected_close_date: dt.date
    notes: str | None = None
    status: DealStatus
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, deal: Deal) -> "DealOut":
        return cls(
            id=deal.id, partner_id=deal.partner_id,
            customer=Customer(name=deal.customer_name, domain=deal.customer_domain,
                              country=deal.customer_country),
            amount=Money.of(deal.amount, deal.currency),
            expected_close_date=deal.expected_close_date, notes=deal.notes, status=deal.status,
            version=deal.version, created_at=deal.created_at, updated_at=deal.updated_at,
        )
