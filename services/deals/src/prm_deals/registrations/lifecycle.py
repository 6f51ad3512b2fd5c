"""A registration's life after the conflict check: review (approve, reject), the outcome (won,
lost), a win reversed by the vendor, extensions of its protection, expiry, and the channel
team's resolution of a conflict.

Each action is a row lock, a check against the transition table, the change, its event
through the outbox and an entry on the deal's timeline, in the request's one transaction.
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

import prm_contracts as contracts
from prm_deals import reasons
from prm_deals.config import EVENT_SOURCE
from prm_deals.declaration import DEALS_WRITE
from prm_deals.matching import conflicts
from prm_deals.reasons import Reason
from prm_deals.registrations import service
from prm_deals.registrations.models import Deal, DealActivity
from prm_deals.rules import service as engagement
from prm_deals.rules.evaluate import Facts, rule_reason, unmet
from prm_events import outbox
from prm_platform.http import check_if_match
from prm_platform.ids import new_id
from prm_platform.money import format_amount
from prm_platform.problems import InvalidTransition, Unprocessable
from prm_platform.security import Principal

OPEN = frozenset(conflicts.OPEN_STATUSES)


@dataclass(frozen=True)
class Action:
    allowed_from: frozenset[str]
    target: str | None  # None: the status stays (an extension)
    vendor_only: bool
    verb: str | None = None  # how a refusal names it, when not the action's own name


ACTIONS = {
    "approve": Action(frozenset({"submitted", "in_review"}), "approved", vendor_only=True),
    "reject": Action(frozenset({"submitted", "in_review", "approved"}), "rejected",
                     vendor_only=True),
    "win": Action(frozenset({"approved"}), "won", vendor_only=False),
    "lose": Action(OPEN, "lost", vendor_only=False),
    "extend": Action(OPEN, None, vendor_only=False),
    # Terminal, not back to `approved`: a win once reversed keeps its record (amount, close
    # date), and a deal sold again later is a new registration, earning anew.
    "reverse-win": Action(frozenset({"won"}), "win_reversed", vendor_only=True,
                          verb="reverse the win of"),
}


def _amount(value: Decimal, currency: str) -> contracts.Amount:
    return contracts.Amount(amount=format_amount(value, currency), currency=currency)


def record(session: AsyncSession, deal_id: uuid.UUID, kind: str, actor: str,
           note: str | None = None) -> None:
    """An entry on the deal's timeline, in the caller's transaction."""
    session.add(DealActivity(id=new_id(), deal_id=deal_id, kind=kind, actor=actor, text=note,
                             at=dt.datetime.now(dt.UTC)))


async def _publish(session: AsyncSession, deal: Deal, payload: contracts.EventPayload) -> None:
    await outbox.publish(session, payload, source=EVENT_SOURCE, aggregate_id=deal.id,
                         partner_id=deal.partner_id)


async def act(session: AsyncSession, principal: Principal, deal_id: uuid.UUID, action: str,
              if_match: str | None, *, reason: str | None = None,
              won: tuple[Decimal, dt.date] | None = None, extension_days: int = 30,
              max_extensions: int = 2) -> Deal:
    """Apply ``action`` to the deal; see ``ACTIONS`` for who may, and from where."""
    principal.require(DEALS_WRITE)
    deal = await service.get(session, principal, deal_id, for_update=True)
    rule = ACTIONS[action]
    if rule.vendor_only:
        principal.ensure_vendor()
    check_if_match(if_match, deal.version)
    if deal.status not in rule.allowed_from:
        raise InvalidTransition(f"cannot {rule.verb or action} a deal that is {deal.status}",
                                current_status=deal.status,
                                allowed_from=sorted(rule.allowed_from))
    previous = deal.status
    now = dt.datetime.now(dt.UTC)
    deal.version += 1
    deal.updated_at = now
    base = {"deal_id": deal.id, "partner_id": deal.partner_id, "version": deal.version}
    payload: contracts.EventPayload
    note: str | None
    if action == "extend":
        if deal.extensions >= max_extensions:
            raise InvalidTransition(f"the protection was extended {deal.extensions} times "
                                    f"already, the most allowed", current_status=deal.status)
        if principal.is_partner and not await _extension_granted(session, principal, deal,
                                                                 reason):
            return deal
        deal.extension_requested_at = None
        deal.extensions += 1
        deal.protected_until = max(deal.protected_until or now.date(), now.date()) \
            + dt.timedelta(days=extension_days)
        payload = contracts.DealExtendedV1(**base, status=deal.status,
                                           protected_until=deal.protected_until,
                                           extensions=deal.extensions)
        note = f"protection extended to {deal.protected_until.isoformat()}"
    else:
        assert rule.target is not None
        deal.status, deal.status_reason = rule.target, reason
        if action == "approve":
            assert deal.protected_until is not None
            payload = contracts.DealApprovedV1(**base, status=deal.status,
                                               protected_until=deal.protected_until,
                                               reason=reason)
        elif action == "reject":
            if not reason:
                raise Unprocessable("a rejection needs a reason the partner can read")
            deal.protected_until = None
            payload = contracts.DealRejectedV1(**base, status=deal.status,
                                               previous_status=previous, reason=reason)
        elif action == "win":
            assert won is not None
            amount, closed_on = won
            deal.won_amount, deal.closed_on = amount, closed_on
            payload = contracts.DealWonV1(
                **base, status=deal.status,
                customer=contracts.Customer(name=deal.customer_name,
                                            domain=deal.customer_domain,
                                            country=deal.customer_country),
                amount=_amount(amount, deal.currency), closed_on=closed_on,
                deal_type=deal.deal_type,
                products=[contracts.Product.model_validate(p) for p in deal.products])
        elif action == "reverse-win":
            if not reason:
                raise Unprocessable("a reversed win needs a reason the partner can read")
            # The win's amount and close date stay on the deal: they say what was reversed.
            won_amount = deal.amount if deal.won_amount is None else deal.won_amount
            payload = contracts.DealWinReversedV1(
                **base, status=deal.status, reason=reason,
                amount=_amount(won_amount, deal.currency),
                closed_on=deal.closed_on or now.date())
        else:
            deal.closed_on = now.date()
            payload = contracts.DealLostV1(**base, status=deal.status, reason=reason)
        note = reason
    await session.flush()
    await _publish(session, deal, payload)
    record(session, deal.id, rule.target or "extended", principal.subject, note)
    return deal


def _stored_conflicts(deal: Deal) -> list[conflicts.Conflict]:
    """The conflicts found at registration that were not the partner's own."""
    return [conflicts.Conflict(kind=c["kind"], id=uuid.UUID(c["id"]), score=c["score"],
                               reasons=[Reason(**r) for r in reasons.conflict_reasons(c)],
                               customer_name=c["customer_name"])
            for c in deal.conflicts
            if c["kind"] == "direct_account" or c.get("partner_id") != str(deal.partner_id)]


async def _extension_granted(session: AsyncSession, principal: Principal, deal: Deal,
                             reason: str | None) -> bool:
    """A partner's extension request, decided by the rules of engagement for extensions (the
    first whose conditions hold: approve, reject, or review by the channel team); granted
    when none fires. A request sent to review is recorded on the deal (the vendor's
    ``extend`` grants it) and False is returned; a rejection is a 409 with the rule's
    reason."""
    rules, partners = await engagement.for_decisions(session, [deal.partner_id], "extension")
    partner = partners.get(str(deal.partner_id)) or {}
    facts = Facts(partner_tier=partner.get("tier"), partner_type=partner.get("type"),
                  country=deal.customer_country, deal_type=deal.deal_type,
                  skus=frozenset(p["sku"] for p in deal.products), amount=deal.amount,
                  currency=deal.currency, private_offer=deal.private_offer)
    others = _stored_conflicts(deal)
    for rule in rules:
        if unmet(rule["conditions"], facts, others):
            continue
        why = rule_reason(rule).text
        if rule["outcome"] == "reject":
            raise InvalidTransition(f"the extension is refused: {why}",
                                    current_status=deal.status)
        if rule["outcome"] == "review":
            deal.extension_requested_at = dt.datetime.now(dt.UTC)
            await session.flush()
            note = f"{why}" + (f"; the partner wrote: {reason}" if reason else "")
            record(session, deal.id, "extension_requested", principal.subject, note)
            await _publish(session, deal, contracts.DealExtensionRequestedV1(
                deal_id=deal.id, partner_id=deal.partner_id, status=deal.status,
                version=deal.version, protected_until=deal.protected_until,
                requested_at=deal.extension_requested_at, reason=note[:1000]))
            return False
        return True
    return True


async def resolve_conflict(session: AsyncSession, principal: Principal, deal_id: uuid.UUID,
                           if_match: str | None, reason: str | None) -> tuple[Deal, list[Deal]]:
    """The channel team picks this registration: it is approved, and every other partner's
    open registration that conflicts with it now is rejected, with the reason."""
    principal.require(DEALS_WRITE)
    principal.ensure_vendor()
    deal = await service.get(session, principal, deal_id, for_update=True)
    check_if_match(if_match, deal.version)
    if deal.status not in OPEN:
        raise InvalidTransition(f"cannot resolve a conflict for a deal that is {deal.status}",
                                current_status=deal.status, allowed_from=sorted(OPEN))
    customer = conflicts.Customer(deal.customer_name_key, deal.customer_domain_key,
                                  deal.customer_country)
    await conflicts.lock(session, customer)
    losing = [c.id for c in await conflicts.find(session, customer, exclude=deal.id)
              if c.kind == "registration" and c.partner_id != deal.partner_id]
    if deal.status != "approved":
        await act(session, principal, deal.id, "approve", None,
                  reason=reason or reasons.reason("chosen_over_conflicts").text)
    # Within the 500 characters a status reason has, the channel team's reason clipped.
    why = reasons.reason("another_registration_chosen", deal_id=str(deal.id),
                         note=reason).text[:500]
    rejected = []
    for other in sorted(losing):
        rejected.append(await act(session, principal, other, "reject", None, reason=why))
    return deal, rejected


_EXPIRABLE = select(Deal).where(Deal.status.in_(sorted(OPEN)),
                                Deal.protected_until < text("CURRENT_DATE"))


async def expire(session: AsyncSession, batch: int = 500) -> int:
    """The scheduled expiry: registrations whose protection ran out become ``expired``
    (up to ``batch`` per run; the scheduler runs again at once while there are more)."""
    deals = list((await session.execute(
        _EXPIRABLE.order_by(Deal.protected_until).limit(batch).with_for_update(skip_locked=True)
    )).scalars())
    now = dt.datetime.now(dt.UTC)
    for deal in deals:
        previous, ended = deal.status, deal.protected_until
        assert ended is not None
        deal.status, deal.status_reason = "expired", reasons.reason("protection_ended").text
        deal.version += 1
        deal.updated_at = now
        await _publish(session, deal, contracts.DealExpiredV1(
            deal_id=deal.id, partner_id=deal.partner_id, status="expired",
            version=deal.version, previous_status=previous, protected_until=ended))
        record(session, deal.id, "expired", "scheduler", f"protected until {ended.isoformat()}")
    return len(deals)


async def warn_protection_ending(session: AsyncSession, notice_days: int = 14,
                                 batch: int = 500) -> int:
    """The scheduled notice: open registrations whose protection ends within ``notice_days``
    announce it once per end (``prm.deal.protection_ending.v1``); an extension moves the end,
    and the new one is announced when it comes near (up to ``batch`` per run)."""
    today = dt.datetime.now(dt.UTC).date()
    deals = list((await session.execute(
        select(Deal).where(Deal.status.in_(sorted(OPEN)),
                           Deal.protected_until >= today,
                           Deal.protected_until <= today + dt.timedelta(days=notice_days),
                           Deal.protection_warned_until.is_distinct_from(Deal.protected_until))
        .order_by(Deal.protected_until).limit(batch).with_for_update(skip_locked=True)
    )).scalars())
    for deal in deals:
        assert deal.protected_until is not None
        deal.protection_warned_until = deal.protected_until
        await _publish(session, deal, contracts.DealProtectionEndingV1(
            deal_id=deal.id, partner_id=deal.partner_id, status=deal.status,
            version=deal.version, protected_until=deal.protected_until,
            days_left=(deal.protected_until - today).days))
    return len(deals)
