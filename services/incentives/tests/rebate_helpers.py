"""Helpers of the rebate tests: partners with a tier, and won deals delivered the way the worker
delivers them (through the handler map)."""

import datetime as dt
import uuid

from prm_contracts import (
    Amount,
    Customer,
    DealWonV1,
    PartnerSnapshot,
    PartnerTierChangedV1,
    Product,
)
from prm_events.envelope import new_event
from prm_incentives.directory.handlers import HANDLERS as PARTNER_HANDLERS
from prm_incentives.rebates.handlers import HANDLERS as DEAL_HANDLERS


async def project_tier(session, partner_id: uuid.UUID, tier: str | None) -> None:
    snapshot = PartnerSnapshot(id=partner_id, name="Acme Cloud GmbH", type="msp",
                               country="DE", status="active", version=10, tier=tier)
    event = new_event(PartnerTierChangedV1(partner=snapshot, previous_tier=None, tier=tier,
                                           direction="promotion", criteria={}, reason="test"),
                      source="/prm/partners", subject=str(partner_id), partner_id=partner_id)
    await PARTNER_HANDLERS[event.type](session, event)


def won(partner_id: uuid.UUID, amount: str, currency: str = "EUR", *,
        closed_on: dt.date = dt.date(2025, 3, 14), deal_type: str = "new",
        products: tuple[tuple[str, int, str], ...] = (), deal_id: uuid.UUID | None = None
        ) -> DealWonV1:
    return DealWonV1(
        deal_id=deal_id or uuid.uuid4(), partner_id=partner_id, status="won", version=3,
        customer=Customer(name="Globex", domain="globex.example", country="DE"),
        amount=Amount(amount=amount, currency=currency), closed_on=closed_on,
        deal_type=deal_type,
        products=[Product(sku=sku, quantity=quantity,
                          unit_price=Amount(amount=price, currency=currency))
                  for sku, quantity, price in products])


async def deliver(session, deal: DealWonV1) -> None:
    event = new_event(deal, source="/prm/deals", subject=str(deal.deal_id),
                      partner_id=deal.partner_id)
    await DEAL_HANDLERS[event.type](session, event)
