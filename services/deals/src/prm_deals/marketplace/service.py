"""Cloud marketplace private offers made through partners: made, changed, published and
cancelled by the vendor, read by the vendor and the partner whose deal each is for.

Each write locks the offer's row, checks its version (If-Match), changes it, records a status
change in its history when its status moves, and announces it through the outbox
(``prm.marketplace_offer.changed.v1``), in the request's one transaction."""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import prm_contracts as contracts
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import MARKETPLACE_READ, MARKETPLACE_WRITE
from prm_deals.marketplace import fees, statuses
from prm_deals.marketplace.listing import HISTORY, OFFERS
from prm_deals.marketplace.models import MarketplaceOffer, MarketplaceOfferChange
from prm_deals.marketplace.schemas import (
    MarketplaceFee,
    OfferChangeOut,
    OfferIn,
    OfferMoney,
    OfferOut,
    OfferPatch,
)
from prm_deals.matching import conflicts
from prm_deals.registrations import repository as deals
from prm_events import outbox
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.listing import ListQuery
from prm_platform.money import Money, format_amount, minor_units
from prm_platform.problems import (
    Conflict,
    InvalidTransition,
    NotFound,
    Unprocessable,
    field_error,
)
from prm_platform.security import Principal

# A deal an offer can be made for: a registration still open.
OFFERABLE = frozenset(conflicts.OPEN_STATUSES)
# What the vendor may still change or publish, and cancel.
CHANGEABLE = frozenset({"draft", "published"})


def to_minor(money: Money) -> int:
    return int(Decimal(money.amount).scaleb(minor_units(money.currency)))


def to_money(minor: int, currency: str) -> Money:
    value = Decimal(minor).scaleb(-minor_units(currency))
    return Money(amount=format_amount(value, currency), currency=currency)


def major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_units(currency))


def split_of(row: MarketplaceOffer) -> fees.Split:
    return fees.split(row.wholesale_minor, row.markup_minor, row.fee_minor)


def money_of(row: MarketplaceOffer) -> OfferMoney:
    shares, currency = split_of(row), row.currency
    return OfferMoney(
        wholesale_price=to_money(shares.wholesale, currency),
        partner_markup=to_money(shares.markup, currency),
        gross=to_money(shares.gross, currency),
        marketplace_fee=to_money(shares.fee, currency),
        marketplace_fee_percent=None if row.fee_percent is None
        else str(row.fee_percent.normalize()),
        partner_margin=to_money(shares.partner_margin, currency),
        vendor_net=to_money(shares.vendor_net, currency))


def out(row: MarketplaceOffer) -> OfferOut:
    return OfferOut(
        id=row.id, deal_id=row.deal_id, partner_id=row.partner_id,
        marketplace=row.marketplace, kind=row.kind,
        external_offer_id=row.external_offer_id, agreement_id=row.agreement_id,
        customer={"name": row.customer_name, "domain": row.customer_domain,
                  "country": row.customer_country},
        money=money_of(row), duration_months=row.duration_months, starts_on=row.starts_on,
        ends_on=row.ends_on, marketplace_status=row.marketplace_status,
        status=row.status,
        win_deal_on_acceptance=row.win_deal_on_acceptance, accepted_at=row.accepted_at,
        deal_won_at=row.deal_won_at, version=row.version, created_at=row.created_at,
        updated_at=row.updated_at)


async def announce(session: AsyncSession, row: MarketplaceOffer, change: str,
                   previous_status: str | None = None) -> None:
    shares = split_of(row)

    def amount(minor: int) -> contracts.Amount:
        return contracts.Amount(amount=format_amount(major(minor, row.currency), row.currency),
                                currency=row.currency)
    await outbox.publish(session, contracts.MarketplaceOfferChangedV1(
        offer_id=row.id, deal_id=row.deal_id, partner_id=row.partner_id,
        marketplace=row.marketplace, kind=row.kind, external_offer_id=row.external_offer_id,
        change=change, marketplace_status=row.marketplace_status, status=row.status,
        previous_status=previous_status, gross=amount(shares.gross),
        marketplace_fee=amount(shares.fee), partner_margin=amount(shares.partner_margin),
        vendor_net=amount(shares.vendor_net), version=row.version),
        source=EVENT_SOURCE, aggregate_id=row.id, partner_id=row.partner_id)


def record_change(session: AsyncSession, row: MarketplaceOffer, previous: str | None, *,
                  actor: str, source: str = "api", event_id: str | None = None,
                  note: str | None = None) -> None:
    session.add(MarketplaceOfferChange(
        id=new_id(), offer_id=row.id, version=row.version,
        marketplace_status=row.marketplace_status, status=row.status,
        previous_status=previous, source=source, event_id=event_id, actor=actor,
        note=None if note is None else note[:500], at=row.updated_at))


def _unprocessable(field: str, message: str) -> Unprocessable:
    return Unprocessable(message, errors=[field_error(f"body.{field}", message)])


def _same_currency(currency: str, **given: Money | None) -> None:
    for field, money in given.items():
        if money is not None and money.currency != currency:
            raise _unprocessable(f"{field}.currency", f"the offer is in the deal's currency, "
                                 f"{currency}, not {money.currency}")


def _fee(fee: MarketplaceFee, gross: int, currency: str) -> tuple[Decimal | None, int]:
    if fee.percent is not None:
        return fee.percent, fees.fee_of_percent(gross, fee.percent)
    assert fee.amount is not None
    _same_currency(currency, **{"marketplace_fee.amount": fee.amount})
    return None, to_minor(fee.amount)


def _check_money(wholesale: int, markup: int, fee: int) -> None:
    if fee > wholesale + markup:
        raise _unprocessable("marketplace_fee", "the marketplace fee exceeds what the customer "
                             "pays (wholesale price plus markup)")


def _check_kind(marketplace: str, kind: str) -> None:
    if statuses.KINDS[kind] != marketplace:
        known = sorted(k for k, m in statuses.KINDS.items() if m == marketplace)
        raise _unprocessable("kind", f"{kind} is not an offer kind of {marketplace} "
                             f"(its kinds: {', '.join(known)})")


async def _taken(session: AsyncSession, marketplace: str, external_offer_id: str | None,
                 but: uuid.UUID | None = None) -> None:
    if external_offer_id is None:
        return
    found = (await session.execute(select(MarketplaceOffer.id).where(
        MarketplaceOffer.marketplace == marketplace,
        MarketplaceOffer.external_offer_id == external_offer_id))).scalar_one_or_none()
    if found is not None and found != but:
        raise Conflict(f"another offer has the {marketplace} offer id {external_offer_id}",
                       offer_id=str(found))


async def _flush(session: AsyncSession, row: MarketplaceOffer) -> None:
    """Flush, turning a concurrent claim of the same marketplace offer id into a 409."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"another offer has the {row.marketplace} offer id "
                       f"{row.external_offer_id}") from None


async def create(session: AsyncSession, principal: Principal, data: OfferIn) -> MarketplaceOffer:
    principal.require(MARKETPLACE_WRITE)
    principal.ensure_vendor()
    _check_kind(data.marketplace, data.kind)
    deal = await deals.get(session, data.deal_id)
    if deal is None:
        raise _unprocessable("deal_id", f"no deal registration {data.deal_id}")
    if data.partner_id is not None and data.partner_id != deal.partner_id:
        raise _unprocessable("partner_id", "the offer's partner is its deal's partner "
                             f"({deal.partner_id})")
    if deal.status not in OFFERABLE:
        raise InvalidTransition(f"a private offer is made for an open registration, not one "
                                f"that is {deal.status}", current_status=deal.status,
                                allowed_from=sorted(OFFERABLE))
    _same_currency(deal.currency, wholesale_price=data.wholesale_price,
                   partner_markup=data.partner_markup)
    wholesale, markup = to_minor(data.wholesale_price), to_minor(data.partner_markup)
    percent, fee = _fee(data.marketplace_fee, wholesale + markup, deal.currency)
    _check_money(wholesale, markup, fee)
    await _taken(session, data.marketplace, data.external_offer_id)
    now = dt.datetime.now(dt.UTC)
    row = MarketplaceOffer(
        id=new_id(), partner_id=deal.partner_id, deal_id=deal.id,
        marketplace=data.marketplace, kind=data.kind,
        external_offer_id=data.external_offer_id, agreement_id=None,
        customer_name=deal.customer_name, customer_domain=deal.customer_domain,
        customer_country=deal.customer_country, currency=deal.currency,
        wholesale_minor=wholesale, markup_minor=markup, fee_percent=percent, fee_minor=fee,
        duration_months=data.duration_months, starts_on=data.starts_on, ends_on=data.ends_on,
        marketplace_status=statuses.DRAFT[data.marketplace], status="draft",
        win_deal_on_acceptance=data.win_deal_on_acceptance, accepted_at=None,
        deal_won_at=None, created_by=principal.actor, version=1, created_at=now,
        updated_at=now)
    session.add(row)
    await _flush(session, row)
    record_change(session, row, None, actor=principal.actor, note="created")
    await announce(session, row, "created")
    return row


async def get(session: AsyncSession, principal: Principal, offer_id: uuid.UUID, *,
              for_update: bool = False) -> MarketplaceOffer:
    principal.require(MARKETPLACE_READ)
    row = await session.get(MarketplaceOffer, offer_id, with_for_update=for_update or None)
    if row is None or not principal.can_see_partner(row.partner_id):
        raise NotFound("marketplace offer not found")
    return row


async def list_page(session: AsyncSession, principal: Principal, query: ListQuery
                    ) -> tuple[list[Any], str | None, int | None]:
    principal.require(MARKETPLACE_READ)
    visible = select(MarketplaceOffer)
    if principal.is_partner:
        visible = visible.where(MarketplaceOffer.partner_id == principal.partner_id)
    return await OFFERS.page(session, visible, query)


async def history(session: AsyncSession, principal: Principal, offer_id: uuid.UUID,
                  query: ListQuery) -> tuple[list[OfferChangeOut], str | None, int | None]:
    await get(session, principal, offer_id)
    rows, cursor, total = await HISTORY.page(session, select(MarketplaceOfferChange).where(
        MarketplaceOfferChange.offer_id == offer_id), query)
    return [OfferChangeOut.model_validate(r) for r in rows], cursor, total


async def _for_vendor(session: AsyncSession, principal: Principal, offer_id: uuid.UUID,
                      if_match: str | None, verb: str) -> MarketplaceOffer:
    principal.require(MARKETPLACE_WRITE)
    principal.ensure_vendor()
    row = await get(session, principal, offer_id, for_update=True)
    check_if_match(if_match, row.version)
    if row.status not in CHANGEABLE:
        raise InvalidTransition(f"cannot {verb} an offer that is {row.status}",
                                current_status=row.status, allowed_from=sorted(CHANGEABLE))
    return row


async def change(session: AsyncSession, principal: Principal, offer_id: uuid.UUID,
                 patch: OfferPatch, if_match: str | None) -> MarketplaceOffer:
    """A merge patch of a draft or published offer; one that changes nothing changes nothing
    (same version, no event)."""
    row = await _for_vendor(session, principal, offer_id, if_match, "change")
    given = patch.model_fields_set
    for field in ("wholesale_price", "partner_markup", "marketplace_fee", "win_deal_on_acceptance"):
        if field in given and getattr(patch, field) is None:
            raise _unprocessable(field, f"{field} cannot be removed")
    _same_currency(row.currency, wholesale_price=patch.wholesale_price,
                   partner_markup=patch.partner_markup)
    wholesale = row.wholesale_minor if patch.wholesale_price is None \
        else to_minor(patch.wholesale_price)
    markup = row.markup_minor if patch.partner_markup is None else to_minor(patch.partner_markup)
    if patch.marketplace_fee is not None:
        percent, fee = _fee(patch.marketplace_fee, wholesale + markup, row.currency)
    elif row.fee_percent is not None:
        percent, fee = row.fee_percent, fees.fee_of_percent(wholesale + markup, row.fee_percent)
    else:
        percent, fee = None, row.fee_minor
    _check_money(wholesale, markup, fee)
    values: dict[str, Any] = {"wholesale_minor": wholesale, "markup_minor": markup,
                              "fee_percent": percent, "fee_minor": fee}
    if "external_offer_id" in given:
        await _taken(session, row.marketplace, patch.external_offer_id, but=row.id)
        values["external_offer_id"] = patch.external_offer_id
    if patch.win_deal_on_acceptance is not None:
        values["win_deal_on_acceptance"] = patch.win_deal_on_acceptance
    terms = {"duration_months", "starts_on", "ends_on"} & given
    if terms:
        merged = {name: getattr(patch if name in given else row, name)
                  for name in ("duration_months", "starts_on", "ends_on")}
        if "duration_months" in given and patch.duration_months is not None:
            merged["starts_on"] = merged["ends_on"] = None
        elif {"starts_on", "ends_on"} & given and (patch.starts_on or patch.ends_on):
            merged["duration_months"] = None
        if merged["starts_on"] and merged["ends_on"] and merged["ends_on"] <= merged["starts_on"]:
            raise _unprocessable("ends_on", "ends_on must be after starts_on")
        if (merged["starts_on"] is None) != (merged["ends_on"] is None):
            raise _unprocessable("ends_on", "give both starts_on and ends_on")
        values.update(merged)
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if not changed:
        return row
    for name, value in changed.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    await _flush(session, row)
    await announce(session, row, "updated", row.status)
    return row


async def act(session: AsyncSession, principal: Principal, offer_id: uuid.UUID, action: str,
              if_match: str | None, reason: str | None = None) -> MarketplaceOffer:
    """``publish`` (a draft: sent to the customer on the marketplace) or ``cancel`` (a draft or
    a published offer the customer has not accepted)."""
    row = await _for_vendor(session, principal, offer_id, if_match, action)
    previous = row.status
    if action == "publish":
        if row.status != "draft":
            raise InvalidTransition(f"cannot publish an offer that is {row.status}",
                                    current_status=row.status, allowed_from=["draft"])
        if row.external_offer_id is None:
            raise _unprocessable("external_offer_id", "an offer is published under the "
                                 "marketplace's offer id: set external_offer_id first")
        row.status, row.marketplace_status = "published", statuses.PUBLISHED[row.marketplace]
    else:
        row.status, row.marketplace_status = "cancelled", statuses.CANCELLED[row.marketplace]
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    await session.flush()
    record_change(session, row, previous, actor=principal.actor, note=reason or action)
    await announce(session, row, "published" if action == "publish" else "cancelled", previous)
    return row
