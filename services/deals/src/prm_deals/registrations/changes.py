"""Changes to an open registration: what the partner may still change while it is open (its
amount, products, expected close date and notes: ``PATCH /v1/deals/{id}``, a JSON merge patch),
and the partner system's sync, a registration sent again under its external id.

Both lock the deal's row, check ``If-Match`` and the status on it as locked, and write the
change, its ``prm.deal.updated.v1`` event and the entry of the deal's timeline in one statement,
in the request's one transaction. Neither runs the conflict check nor the rules of engagement
again: the customer, the only input of the conflict check, cannot change (another customer is
another registration), and the decision stays the one made at registration with the facts
then (docs/deal-registration.md, "Changing an open registration")."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Response
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

import prm_contracts as contracts
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DEALS_READ, DEALS_WRITE
from prm_deals.matching import conflicts
from prm_deals.registrations.models import Deal
from prm_deals.registrations.schemas import (
    DealChanges,
    DealRegistration,
    close_date_ahead,
    more_than_zero,
    priced_in,
)
from prm_events import outbox
from prm_platform import idempotency
from prm_platform.http import Transactions, check_if_match
from prm_platform.idempotency import IdempotentRequest
from prm_platform.ids import new_id
from prm_platform.money import Money, format_amount
from prm_platform.problems import (
    Conflict,
    InvalidTransition,
    NotFound,
    Unprocessable,
    field_error,
)
from prm_platform.security import Principal

OPEN = tuple(sorted(conflicts.OPEN_STATUSES))
# What a partner's sync may change on an open registration it made (by its external id).
SYNCED = ("amount", "currency", "products", "deal_type", "expected_close_date", "notes",
          "private_offer", "customer_address", "customer_crm_ids")
# What a PATCH may change (the rest is the registration's identity, its decision's facts, or
# the lifecycle's).
EDITABLE = ("amount", "products", "expected_close_date", "notes")
_JSON_COLUMNS = ("products", "customer_address", "customer_crm_ids")

Answer = Callable[[Deal, int], Response]
# The same, told the partner's name from the directory.
NamedAnswer = Callable[[Deal, int, str | None], Response]

_LOCKED = text("SELECT * FROM deals WHERE id = CAST(:id AS uuid) FOR UPDATE")
_BY_EXTERNAL_ID = text("SELECT * FROM deals WHERE partner_id = CAST(:partner_id AS uuid) "
                       "AND external_id = CAST(:external_id AS varchar) FOR UPDATE")
_UPDATE = text(f"""
    WITH {idempotency.store_cte(
        "EXISTS (SELECT 1 FROM deals WHERE id = CAST(:id AS uuid) "
        "AND version = CAST(:version AS integer))")},
    deal AS (
        UPDATE deals SET amount = CAST(:amount AS numeric), currency = CAST(:currency AS varchar),
            products = CAST(:products AS jsonb), deal_type = CAST(:deal_type AS varchar),
            expected_close_date = CAST(:expected_close_date AS date),
            notes = CAST(:notes AS varchar), private_offer = CAST(:private_offer AS boolean),
            customer_address = CAST(:customer_address AS jsonb),
            customer_crm_ids = CAST(:customer_crm_ids AS jsonb),
            version = version + 1, updated_at = CAST(:now AS timestamptz)
        WHERE id = CAST(:id AS uuid) AND version = CAST(:version AS integer)
          AND {idempotency.STORED}
        RETURNING *
    ),
    activity AS (
        INSERT INTO deal_activities (id, deal_id, kind, actor, text, at)
        SELECT CAST(:activity_id AS uuid), id, 'updated', CAST(:actor AS varchar),
               CAST(:activity_text AS varchar), CAST(:now AS timestamptz) FROM deal
    ),
    {outbox.insert_cte(after="deal")}
    SELECT version FROM deal
""")


def _refuse(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", errors=[field_error(f"body.{field}", message)])


def _merged_amount(deal: Deal, changes: DealChanges) -> Money:
    """The ``amount`` member merged into the deal's (RFC 7396: the members sent replace the
    deal's, the others stay), validated as at registration."""
    assert changes.amount is not None
    sent = changes.amount.model_fields_set
    try:
        money = Money(amount=changes.amount.amount if "amount" in sent
                      else format_amount(deal.amount, deal.currency),
                      currency=changes.amount.currency if "currency" in sent else deal.currency)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["amount", *(str(p) for p in first["loc"])])
        raise _refuse(where, first["msg"]) from None
    try:
        return more_than_zero(money)
    except ValueError as exc:
        raise _refuse("amount", str(exc)) from None


def merged(deal: Deal, changes: DealChanges) -> dict[str, Any]:
    """The deal's ``SYNCED`` columns with ``changes`` applied, validated as a registration's
    (422 otherwise): the amount more than zero and within the currency's minor units, the
    products priced in the deal's currency, a new close date today or later (an unchanged one
    is not judged again, though it may have passed)."""
    wanted = {f: getattr(deal, f) for f in SYNCED}
    sent = changes.model_fields_set
    if "amount" in sent:
        money = _merged_amount(deal, changes)
        wanted["amount"], wanted["currency"] = money.value, money.currency
    if "products" in sent:
        assert changes.products is not None
        wanted["products"] = [p.model_dump(mode="json") for p in changes.products]
    if "amount" in sent or "products" in sent:
        for index, product in enumerate(wanted["products"]):
            try:
                priced_in(product["unit_price"]["currency"], wanted["currency"])
            except ValueError as exc:
                raise _refuse(f"products[{index}].unit_price.currency", str(exc)) from None
    if "expected_close_date" in sent and changes.expected_close_date != deal.expected_close_date:
        assert changes.expected_close_date is not None
        try:
            wanted["expected_close_date"] = close_date_ahead(changes.expected_close_date)
        except ValueError as exc:
            raise _refuse("expected_close_date", str(exc)) from None
    if "notes" in sent:
        wanted["notes"] = changes.notes or None
    return wanted


def _differs(field: str, before: Any, after: Any) -> bool:
    if isinstance(before, Decimal) or isinstance(after, Decimal):
        return Decimal(before) != Decimal(after)
    return bool(before != after)


def _described(deal: Deal, wanted: dict[str, Any], changed: list[str]) -> str:
    """The timeline's words for a change: amounts and dates from and to, other fields named."""
    words = []
    if "amount" in changed or "currency" in changed:
        words.append(f"amount {format_amount(deal.amount, deal.currency)} {deal.currency} -> "
                     f"{format_amount(wanted['amount'], wanted['currency'])} "
                     f"{wanted['currency']}")
    if "expected_close_date" in changed:
        words.append(f"expected close date {deal.expected_close_date.isoformat()} -> "
                     f"{wanted['expected_close_date'].isoformat()}")
    words += [f.replace("_", " ") for f in changed
              if f not in ("amount", "currency", "expected_close_date")]
    return ", ".join(words)


async def _apply(connection: AsyncConnection, principal: Principal, deal: Deal,
                 wanted: dict[str, Any], how: str, answer: Answer,
                 request: IdempotentRequest | None = None) -> Response:
    """Write what changed (nothing if nothing did) with its event and timeline entry, and
    answer the deal as it is then. ``answer`` renders before the statement runs, so that an
    Idempotency-Key stores the very bytes sent."""
    changed = sorted(f for f in SYNCED if _differs(f, getattr(deal, f), wanted[f]))
    if not changed:
        return answer(deal, 200)
    note = f"{how}: {_described(deal, wanted, changed)}"
    now = dt.datetime.now(dt.UTC)
    version = deal.version
    for field, value in wanted.items():
        setattr(deal, field, value)
    deal.version, deal.updated_at = version + 1, now
    response = answer(deal, 200)
    event = contracts.DealUpdatedV1(
        deal_id=deal.id, partner_id=deal.partner_id, status=deal.status, version=deal.version,
        changed=changed, amount=contracts.Amount(
            amount=format_amount(deal.amount, deal.currency), currency=deal.currency),
        expected_close_date=deal.expected_close_date, deal_type=deal.deal_type,
        products=[contracts.Product.model_validate(p) for p in deal.products])
    row = (await connection.execute(_UPDATE, {
        **{k: (None if v is None else orjson.dumps(v).decode()) if k in _JSON_COLUMNS else v
           for k, v in wanted.items()},
        "id": deal.id, "version": version, "now": now, "activity_id": new_id(),
        "actor": principal.subject, "activity_text": note[:4000],
        **idempotency.store_params(request, response),
        **outbox.event_params(event, source=EVENT_SOURCE, aggregate_id=deal.id,
                              partner_id=deal.partner_id)})).first()
    if row is not None:
        await outbox.wake_relay(connection)
        return response
    # The row is locked at ``version``: only the key can have been taken meanwhile.
    assert request is not None
    return await idempotency.stored_response(connection, request)


_PARTNER_NAME = text("SELECT name FROM partner_directory WHERE partner_id = :id")


async def change(begin: Transactions, principal: Principal, deal_id: Any, changes: DealChanges,
                 if_match: str | None, answer: NamedAnswer) -> Response:
    """``PATCH /v1/deals/{id}``: the vendor, or the registering partner, changes what may still
    change of an open registration."""
    principal.require(DEALS_READ)
    principal.require(DEALS_WRITE)
    async with begin() as connection:
        row = (await connection.execute(_LOCKED, {"id": deal_id})).first()
        if row is None:
            raise NotFound("deal not found")
        deal = Deal(**row._mapping)
        principal.ensure_visible(deal.partner_id, "deal")
        check_if_match(if_match, deal.version)
        if deal.status not in OPEN:
            raise InvalidTransition(f"cannot change a deal that is {deal.status}",
                                    current_status=deal.status, allowed_from=list(OPEN))
        name = (await connection.execute(_PARTNER_NAME, {"id": deal.partner_id})).scalar()
        return await _apply(connection, principal, deal, merged(deal, changes), "updated",
                            lambda made, status: answer(made, status, name))


async def by_external_id(connection: AsyncConnection, partner_id: Any, external_id: str
                         ) -> Deal | None:
    """The partner's registration under ``external_id``, locked until the transaction ends."""
    row = (await connection.execute(_BY_EXTERNAL_ID, {
        "partner_id": partner_id, "external_id": external_id})).first()
    return None if row is None else Deal(**row._mapping)


async def sync(connection: AsyncConnection, principal: Principal, deal: Deal,
               data: DealRegistration, if_match: str | None,
               request: IdempotentRequest | None, answer: Answer) -> Response:
    """A registration sent again under its external id (``deal``, locked): an update. A retry
    under an Idempotency-Key already used replays its first answer; a stale ``If-Match`` is a
    412; the changes the partner's system made to an open registration are applied
    (``prm.deal.updated.v1``); the customer itself cannot change (that is another
    registration), and a closed registration is answered as it stands."""
    if request is not None and await idempotency.held(connection, request):
        return await idempotency.stored_response(connection, request)
    check_if_match(if_match, deal.version)
    if (data.customer.name, data.customer.domain, data.customer.country) != (
            deal.customer_name, deal.customer_domain, deal.customer_country):
        raise Conflict(f"external id {deal.external_id!r} is a registration for another "
                       "customer; a new customer is a new registration with its own id")
    if deal.status not in OPEN:
        return answer(deal, 200)
    wanted = {"amount": data.amount.value, "currency": data.amount.currency,
              "products": [p.model_dump(mode="json") for p in data.products],
              "deal_type": data.deal_type.value,
              "expected_close_date": data.expected_close_date, "notes": data.notes or None,
              "private_offer": data.private_offer,
              "customer_address": data.customer.address.model_dump(mode="json",
                                                                   exclude_none=True)
              if data.customer.address else None,
              "customer_crm_ids": data.customer.crm_ids}
    return await _apply(connection, principal, deal, wanted, "updated by the partner's system",
                        answer, request)
