import datetime as dt
import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from prm_deals import reasons
from prm_deals.registrations.models import AnyDeal
from prm_platform.money import CurrencyCode, Money
from prm_platform.security import Principal
from prm_platform.types import CountryCode, DomainName, IsoDate, Name


# The registration's lifecycle as the design names it: the conflict check decides whether a
# new registration is `submitted`, `in_review` or `rejected`; review actions move it on.
class DealStatus(StrEnum):
    """Where a deal registration is in its lifecycle."""

    submitted = "submitted"
    in_review = "in_review"
    approved = "approved"
    rejected = "rejected"
    won = "won"
    lost = "lost"
    expired = "expired"
    # The vendor undid a win (a booking cancelled, refunded or entered in error); terminal.
    win_reversed = "win_reversed"


class DealType(StrEnum):
    new = "new"
    renewal = "renewal"
    upsell = "upsell"


MAX_CLOSE_YEARS = 10
MAX_PRODUCTS = 100
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
ExternalId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,100}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

# The earliest calendar day that is still today somewhere (UTC-12): a partner late in its own
# day must not be told that today is in the past.
_EARLIEST_TODAY = dt.timezone(dt.timedelta(hours=-12))


def more_than_zero(amount: Money) -> Money:
    """A deal's amount, at registration and when changed."""
    if amount.value <= 0:
        raise ValueError("a deal's amount must be more than zero")
    return amount


def close_date_ahead(value: dt.date) -> dt.date:
    """An expected close date, at registration and when changed: today (somewhere) or later,
    at most ``MAX_CLOSE_YEARS`` ahead."""
    today = dt.datetime.now(_EARLIEST_TODAY).date()
    if value < today:
        raise ValueError("the expected close date is in the past")
    if value > today.replace(year=today.year + MAX_CLOSE_YEARS, day=min(today.day, 28)):
        raise ValueError(f"the expected close date is more than {MAX_CLOSE_YEARS} years ahead")
    return value


def priced_in(product_currency: str, deal_currency: str) -> None:
    """A product's unit price is in the deal's currency."""
    if product_currency != deal_currency:
        raise ValueError(f"products are priced in the deal's currency ({deal_currency})")


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: ShortText | None = None
    line2: ShortText | None = None
    city: ShortText | None = None
    region: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None \
        = None


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="The customer's legal name.")
    domain: DomainName = Field(description="The customer's website domain; subdomains and "
                               "`www` are folded when conflicts are checked.")
    country: CountryCode
    address: Address | None = None
    crm_ids: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]{1,40}$")],
                  Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=10,
        description="The customer's ids in CRMs, by system (e.g. `salesforce`, `hubspot`).")


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    quantity: StrictInt = Field(ge=1, le=10_000_000)
    unit_price: Money


class DealRegistration(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "external_id": "006Dn000004XyZ1",
            "customer": {"name": "Globex Corporation", "domain": "globex.example",
                         "country": "FR"},
            "products": [{"sku": "PLAT-SEAT", "quantity": 120,
                          "unit_price": {"amount": "400.00", "currency": "EUR"}}],
            "amount": {"amount": "48000.00", "currency": "EUR"},
            "deal_type": "renewal",
            "expected_close_date": "2027-03-31",
            "notes": "Renewal of 120 seats, competitive against a direct offer.",
        }]},
    )

    partner_id: uuid.UUID | None = Field(
        default=None,
        description="The partner org registering the deal. Partner keys may leave it out (it is "
        "their own org) and may not name another; vendor keys must send it.",
    )
    external_id: ExternalId | None = Field(
        default=None,
        description="The partner's own id of this opportunity (its CRM's), unique per partner: "
        "sending a registration again with the same external id answers with the one already "
        "made (200) instead of creating another, so sync jobs can retry freely.")
    customer: Customer
    products: list[Product] = Field(default_factory=list, max_length=MAX_PRODUCTS)
    amount: Money = Field(description="Expected deal value; more than zero.")
    deal_type: DealType = DealType.new
    expected_close_date: IsoDate = Field(
        description=f"Today or later, at most {MAX_CLOSE_YEARS} years ahead; YYYY-MM-DD.")
    private_offer: StrictBool = Field(default=False,
                                description="Sold as a cloud marketplace private offer.")
    notes: Notes | None = None

    @field_validator("amount")
    @classmethod
    def _more_than_zero(cls, amount: Money) -> Money:
        return more_than_zero(amount)

    @field_validator("expected_close_date")
    @classmethod
    def _not_in_the_past(cls, value: dt.date) -> dt.date:
        return close_date_ahead(value)

    @model_validator(mode="after")
    def _products_in_the_deal_currency(self) -> "DealRegistration":
        for product in self.products:
            priced_in(product.unit_price.currency, self.amount.currency)
        return self


class AmountChange(BaseModel):
    """`amount` in a merge patch: the members sent replace the deal's (RFC 7396), so
    `{"amount": "52000.00"}` keeps the currency; the result is checked as at registration."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="Decimal string, no exponent; more than zero, within the "
        "currency's minor units.")
    currency: CurrencyCode | None = Field(
        default=None, description="ISO 4217; the products must be priced in it.")

    @field_validator("amount", "currency", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null: an amount has both members")
        return value


class DealChanges(BaseModel):
    """What may still change of an open registration, as a JSON merge patch (RFC 7396,
    `application/merge-patch+json`; `application/json` is taken alike): the members sent are
    changed, the others kept; `products` is replaced whole; `null` removes `notes` and is
    refused elsewhere. Checked as at registration."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"amount": {"amount": "52000.00", "currency": "EUR"},
         "expected_close_date": "2027-04-30"}]})

    amount: AmountChange | None = Field(default=None, description="The expected deal value; "
                                        "members left out keep the deal's.")
    products: list[Product] | None = Field(default=None, max_length=MAX_PRODUCTS,
                                           description="Replaces the products (`[]` for none).")
    expected_close_date: IsoDate | None = Field(
        default=None, description=f"Today or later, at most {MAX_CLOSE_YEARS} years ahead "
        "(only a changed date is checked).")
    notes: Notes | None = Field(default=None, description="`null` removes them.")

    @field_validator("amount", "products", "expected_close_date", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null: a registration always has one")
        return value


class CustomerCheck(BaseModel):
    """A dry run of the conflict check (`POST /v1/deals/conflict-check`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "customer": {"name": "ACME Corp.", "domain": "www.acme.example", "country": "US"}}]},
    )

    partner_id: uuid.UUID | None = Field(
        default=None, description="Whose registration it would be: partner keys leave it out "
        "(their own org); vendor keys may name one, or leave it out to check for no partner in "
        "particular.")
    customer: Customer


def _codes(name: str, where: str, doc: str) -> Any:
    # Made from the catalogue: a code added there is a value of its enum.
    codes = StrEnum(name, [(c, c) for c, known in reasons.CODES.items()  # type: ignore[misc]
                           if known.where == where], module=__name__)
    codes.__doc__ = doc
    return codes


# The catalogue's codes of each kind, as named enums of the contract.
if TYPE_CHECKING:
    ConflictCode = str
    DecisionCode = str
    ConditionCode = str
    StatusReasonCode = str
else:
    ConflictCode = _codes("ConflictReasonCode", "conflict",
                          "Why a registration or account conflicts (docs/deal-registration.md).")
    DecisionCode = _codes("DecisionCode", "decision",
                          "Why the conflict check decided as it did "
                          "(docs/deal-registration.md).")
    ConditionCode = _codes("ConditionReasonCode", "rule_trace",
                           "A condition of a rule of engagement that did not hold "
                           "(docs/deal-registration.md).")
    StatusReasonCode = _codes("StatusReasonCode", "status_reason",
                              "Why a registration is in its status "
                              "(docs/deal-registration.md).")


class ConflictKind(StrEnum):
    """What a customer conflicts with: another partner's `registration` or the vendor's
    `direct_account`."""

    registration = "registration"
    direct_account = "direct_account"


class CollaboratorSide(StrEnum):
    """Whose person works a deal: the partner's or the vendor's."""

    partner = "partner"
    vendor = "vendor"


_STABLE = "Stable: never renamed nor given another meaning (docs/deal-registration.md)."
_PARAMS = "The values the reason names, by name (each code has its own; amounts and dates as " \
    "strings)."


class ConflictReason(BaseModel):
    """A conflict's reason as a stable code with its params, beside its English text: a portal
    translates the code and fills in the params."""

    code: ConflictCode = Field(description=_STABLE)
    params: dict[str, Any] = Field(description=_PARAMS)
    text: str = Field(description="The reason in English, as in `reasons`.")


class ConditionReason(BaseModel):
    """A condition of a rule that did not hold, as a stable code with its params, beside its
    English text."""

    code: ConditionCode = Field(description=_STABLE)
    params: dict[str, Any] = Field(description=_PARAMS)
    text: str = Field(description="The condition in English, as in `failed`.")


class ConflictOut(BaseModel):
    """A registration or direct account the customer conflicts with. Partner keys see another
    partner's registration without its id, partner or customer record, and a direct account
    only as "a named account of the vendor"."""

    kind: ConflictKind
    score: float = Field(ge=0, le=1, description="1 is the same customer for certain.")
    reasons: list[str] = Field(examples=[[
        "same registrable domain: acme.example",
        'name match 1.00 after normalisation (same name): "acme" = "acme"',
        "same country: US"]])
    reason_codes: list[ConflictReason] = Field(
        default_factory=list, description="The same reasons in the same order, each as a "
        "stable code with its params, for portals that translate them.",
        examples=[[{"code": "same_domain", "params": {"domain": "acme.example"},
                    "text": "same registrable domain: acme.example"}]])
    same_partner: bool | None = Field(
        default=None, description="A registration by the same partner org (not a conflict that "
        "decides anything: a partner may register several deals of one customer).")
    id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    customer_name: str | None = None
    status: DealStatus | None = None
    registered_at: dt.datetime | None = None
    protected_until: dt.date | None = None
    owner: str | None = Field(default=None, description="The direct account's owner (vendor "
                              "keys only).")

    @classmethod
    def seen_by(cls, stored: dict[str, Any], viewer: Principal,
                registering: uuid.UUID | None) -> "ConflictOut":
        """One stored conflict as ``viewer`` may see it, for a deal of ``registering``."""
        stored = {**stored, "reason_codes": reasons.conflict_reasons(stored)}
        if stored["kind"] == "direct_account":
            if viewer.is_partner:
                named = reasons.reason("named_account")
                return cls(kind="direct_account", score=stored["score"], reasons=[named.text],
                           reason_codes=[ConflictReason.model_validate(named.as_json())])
            return cls.model_validate(stored)
        same = stored["partner_id"] == str(registering)
        shown = cls.model_validate({**stored, "same_partner": same})
        if viewer.is_partner and not same:
            shown = shown.model_copy(update={"id": None, "partner_id": None,
                                             "customer_name": None})
        return shown


class RuleRef(BaseModel):
    id: uuid.UUID
    name: str
    version: int


class Decision(BaseModel):
    outcome: DealStatus = Field(description="The status the registration was given.")
    reason: str | None = Field(default=None, description="Why, when it is not `submitted`.")
    code: DecisionCode = Field(description="Why, as a stable code for portals that translate "
                               "it (`no_conflict` when `submitted`). " + _STABLE,
                                 examples=["registered_first"])
    params: dict[str, Any] = Field(default_factory=dict, description="The values the code "
                                   "names (amounts and dates as strings).",
                                   examples=[{"registered_on": "2026-11-02",
                                              "protected_until": "2027-01-31"}])
    rule: RuleRef | None = Field(default=None, description="The rule of engagement that "
                                 "decided, at the version it had then; none when no rule "
                                 "fired (first come, first served, or the default).")


class ConflictReport(BaseModel):
    conflicts: list[ConflictOut]
    decision: Decision = Field(description="What a registration of this customer would get "
                               "now.")


class DealOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{
            "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b",
            "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
            "external_id": "006Dn000004XyZ1",
            "customer": {"name": "Globex Corporation", "domain": "globex.example",
                         "country": "FR"},
            "products": [{"sku": "PLAT-SEAT", "quantity": 120,
                          "unit_price": {"amount": "400.00", "currency": "EUR"}}],
            "amount": {"amount": "48000.00", "currency": "EUR"},
            "deal_type": "renewal", "private_offer": False,
            "expected_close_date": "2027-03-31",
            "notes": "Renewal of 120 seats, competitive against a direct offer.",
            "status": "submitted", "protected_until": "2027-02-20",
            "conflicts": [], "decision": {"outcome": "submitted", "reason": None,
                                          "code": "no_conflict", "params": {}},
            "version": 1,
            "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z",
        }]},
    )

    id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = Field(
        default=None, description="The registering partner's name, from the partner directory "
        "(null in the answer to a registration, and while the directory does not know it).")
    external_id: str | None = None
    customer: Customer
    products: list[Product]
    amount: Money
    deal_type: DealType
    private_offer: bool
    expected_close_date: dt.date
    notes: str | None = None
    status: DealStatus
    protected_until: dt.date | None = Field(
        default=None, description="Until when the registration protects the partner's claim "
        "on the customer (none once rejected).")
    status_reason: str | None = Field(default=None, description="Why the status last "
                                      "changed, when a reason was given.")
    status_reason_code: StatusReasonCode | None = Field(
        default=None, description="`status_reason` as a stable code, for portals that "
        "translate it: what the service wrote itself (`protection_ended`, "
        "`chosen_over_conflicts`, `another_registration_chosen`), or `stated` for a person's "
        "reason, shown as written. Null when no reason was given.")
    status_reason_params: dict[str, Any] | None = Field(
        default=None, description="The values the code names.")
    won_amount: Money | None = Field(default=None, description="What it was won for; kept "
                                     "when the win is reversed (`win_reversed`).")
    closed_on: dt.date | None = Field(default=None, description="When it was won or lost; "
                                      "kept when the win is reversed.")
    extensions: int = Field(default=0, description="How often the protection was extended.")
    extension_requested_at: dt.datetime | None = Field(
        default=None, description="The partner's extension request waiting for the channel "
        "team (a rule of engagement sent it to review); the vendor's `extend` grants it.")
    account_executive: str | None = None
    source_lead_id: uuid.UUID | None = Field(default=None, description="The lead the "
                                             "registration was converted from (its source).")
    conflicts: list[ConflictOut] = Field(description="What the conflict check found when the "
                                         "deal was registered.")
    decision: Decision | None = Field(default=None, description="What the registration was "
                                      "given, and why.")
    version: int = Field(description="Increases with every change; the ETag is its quoted value.")
    created_at: dt.datetime
    updated_at: dt.datetime

    collaborators: list["CollaboratorOut"] | None = Field(
        default=None, description="The people working the deal, with `expand=collaborators` "
        "(null otherwise).")

    @classmethod
    def of(cls, deal: AnyDeal, viewer: Principal, partner_name: str | None = None
           ) -> "DealOut":
        why = reasons.status_reason_of(deal.status, deal.status_reason)
        return cls(
            id=deal.id, partner_id=deal.partner_id, partner_name=partner_name,
            external_id=deal.external_id,
            customer=Customer(name=deal.customer_name, domain=deal.customer_domain,
                              country=deal.customer_country,
                              address=Address.model_validate(deal.customer_address)
                              if deal.customer_address else None,
                              crm_ids=deal.customer_crm_ids),
            products=[Product.model_validate(p) for p in deal.products],
            amount=Money.of(deal.amount, deal.currency), deal_type=deal.deal_type,
            private_offer=deal.private_offer,
            expected_close_date=deal.expected_close_date, notes=deal.notes, status=deal.status,
            protected_until=deal.protected_until, status_reason=deal.status_reason,
            status_reason_code=why.code if why else None,
            status_reason_params=why.params if why else None,
            won_amount=None if deal.won_amount is None
            else Money.of(deal.won_amount, deal.currency),
            closed_on=deal.closed_on, extensions=deal.extensions or 0,
            extension_requested_at=deal.extension_requested_at,
            account_executive=deal.account_executive,
            source_lead_id=getattr(deal, "source_lead_id", None),
            conflicts=[ConflictOut.seen_by(c, viewer, deal.partner_id) for c in deal.conflicts],
            decision=Decision.model_validate(reasons.decision_of(deal.decision))
            if deal.decision else None,
            version=deal.version, created_at=deal.created_at, updated_at=deal.updated_at,
        )


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
# The latest calendar day that is today somewhere (UTC+14).
_LATEST_TODAY = dt.timezone(dt.timedelta(hours=14))


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "Customer confirmed the partner as its reseller of record."}]})

    reason: Reason | None = Field(default=None, description="Shown to the partner and on the "
                                  "deal's timeline; required to reject.")


class WinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"amount": {"amount": "45500.00", "currency": "EUR"}, "closed_on": "2027-03-28"}]})

    amount: Money | None = Field(default=None, description="What it was won for, in the "
                                 "deal's currency; the registered amount if left out.")
    closed_on: IsoDate | None = Field(default=None, description="Today if left out; never in "
                                      "the future.")

    @field_validator("closed_on")
    @classmethod
    def _not_in_the_future(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and value > dt.datetime.now(_LATEST_TODAY).date():
            raise ValueError("a deal cannot be won in the future")
        return value


class WinReversal(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "The customer cancelled the order within its 30-day right of withdrawal."}]})

    reason: Reason = Field(description="Why the win is undone (a booking cancelled, a refund, "
                           "an order entered in error); shown to the partner, on the deal's "
                           "timeline and in the event incentives act on.")


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"account_executive": "jane.doe@vendor.example"}]})

    account_executive: ShortText | None = Field(description="The vendor's account executive "
                                                "working the deal; null to unassign.")


class ConflictResolution(BaseModel):
    winner: "DealOut"
    rejected: list[uuid.UUID] = Field(description="The other partners' registrations rejected "
                                      "in its favour.")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Joint call with the customer's CIO on Tuesday."}]})

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=4000)]


class ActivityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str = Field(description="registered, updated, approved, rejected, won, lost, "
                      "expired, win_reversed, extended, extension_requested, assigned, note, "
                      "collaborator_added, collaborator_removed")
    actor: str = Field(description="The key or user that did it, or `scheduler`.")
    text: str | None = None
    at: dt.datetime


class CollaboratorIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"side": "vendor", "name": "Sam Lee", "email": "sam.lee@vendor.example",
         "role": "solutions engineer"}]})

    side: CollaboratorSide
    name: ShortText
    email: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True,
                                            pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}$")]
    role: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=100)] | None = None


class CollaboratorOut(CollaboratorIn):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [
        {"id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", "side": "vendor", "name": "Sam Lee",
         "email": "sam.lee@vendor.example", "role": "solutions engineer",
         "created_at": "2026-11-22T09:30:00Z"}]})

    id: uuid.UUID
    created_at: dt.datetime


DealOut.model_rebuild()  # its collaborators are declared after it
