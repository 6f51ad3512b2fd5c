"""Cloud marketplace private offers: made for a partner's open registration (problems for bad
input), each marketplace's statuses mapped to the lifecycle, the history of changes, the signed
intake (good, forged, stale, unsigned, unconfigured, replayed, unknown offer), the acceptance
winning the deal once for the vendor's net, and the fee arithmetic."""

import asyncio
import datetime as dt
import json
import time
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import text

from prm_deals.config import Settings
from prm_deals.directory.handlers import HANDLERS
from prm_deals.main import create_app
from prm_deals.marketplace import fees, statuses
from prm_platform.signatures import SIGNATURE_TOLERANCE, signature_header
from prm_stack.testing import committing_client, outbox_types, partner_headers, vendor_headers

SECRET = "whsec-marketplace-test"
CLOSE = (dt.date.today() + dt.timedelta(days=120)).isoformat()
SCOPES = ("deals:read", "deals:write", "marketplace:read", "marketplace:write")


@pytest.fixture
def seller(prm_infra):
    return vendor_headers(prm_infra.internal_secret, SCOPES)


@pytest.fixture
def integration(prm_infra):
    return vendor_headers(prm_infra.internal_secret, ("marketplace_events:write",),
                          "key-marketplace-integration")


@pytest.fixture
def marketplace_secret(app):
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"marketplace_secret": SecretStr(SECRET)})
    yield
    app.state.settings = settings


async def a_deal(client, list_partner, as_partner, seller, *, approve=True, currency="USD",
                 name="Vandelay Industries"):
    partner_id = await list_partner("active")
    word = name.split()[0].lower()
    made = await client.post("/v1/deals", headers=as_partner(partner_id), json={
        "customer": {"name": name, "domain": f"{word}.example", "country": "US"},
        "amount": {"amount": "120000.00", "currency": currency},
        "expected_close_date": CLOSE})
    assert made.status_code == 201, made.text
    deal = made.json()
    if approve:
        done = await client.post(f"/v1/deals/{deal['id']}/approve", headers=seller,
                                 json={"reason": "ok"})
        assert done.status_code == 200, done.text
        deal = done.json()
    return deal


def offer_body(deal, **over):
    return {"deal_id": deal["id"], "marketplace": "aws", "kind": "aws_cppo",
            "external_offer_id": f"offer-{deal['id'][-12:]}",
            "wholesale_price": {"amount": "100000.00", "currency": "USD"},
            "partner_markup": {"amount": "15000.00", "currency": "USD"},
            "marketplace_fee": {"percent": "3"}, "duration_months": 12, **over}


async def an_offer(client, seller, deal, **over):
    made = await client.post("/v1/marketplace-offers", headers=seller,
                             json=offer_body(deal, **over))
    assert made.status_code == 201, made.text
    return made.json()


def signed(body: dict, *, at: int | None = None, secret: str = SECRET) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    at = int(time.time()) if at is None else at
    return raw, {"Content-Type": "application/json",
                 "Marketplace-Signature": signature_header(secret.encode(), at, raw)}


async def deliver(client, key, raw, headers):
    return await client.post("/v1/marketplace-events", content=raw, headers={**key, **headers})


def aws_event(offer, status, event_id="evt-1", agreement="agmt-1"):
    return {"version": "0", "id": event_id, "source": "aws.marketplace",
            "detail-type": "Agreement Status Changed", "time": "2026-12-07T10:00:00Z",
            "detail": {"offerId": offer["external_offer_id"], "agreementId": agreement,
                       "status": status}}


async def outbox(client, event_type, key, value):
    return [e["data"] for (e,) in await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE event_type = :t "
        "AND envelope->'data'->>:k = :v ORDER BY seq"), {"t": event_type, "k": key, "v": value})]


# Offers


async def test_an_offer_for_a_partners_deal_with_its_money(client, list_partner, as_partner,
                                                           seller):
    deal = await a_deal(client, list_partner, as_partner, seller)
    offer = await an_offer(client, seller, deal)
    assert offer["partner_id"] == deal["partner_id"] and offer["deal_id"] == deal["id"]
    assert offer["customer"] == {"name": "Vandelay Industries", "domain": "vandelay.example",
                                 "country": "US"}
    assert (offer["status"], offer["marketplace_status"], offer["version"]) == \
        ("draft", "DRAFT", 1)
    money = offer["money"]
    assert money["gross"] == {"amount": "115000.00", "currency": "USD"}
    assert money["marketplace_fee"] == {"amount": "3450.00", "currency": "USD"}
    assert money["marketplace_fee_percent"] == "3"
    # the fee falls on each share: 3 % of 100,000 on the vendor, 3 % of 15,000 on the partner
    assert money["vendor_net"] == {"amount": "97000.00", "currency": "USD"}
    assert money["partner_margin"] == {"amount": "14550.00", "currency": "USD"}

    got = await client.get(f"/v1/marketplace-offers/{offer['id']}", headers=seller)
    assert got.json() == offer and got.headers["etag"] == '"1"'
    # the partner reads its own org's offer; another partner does not
    own = as_partner(deal["partner_id"], ("marketplace:read",))
    assert (await client.get(f"/v1/marketplace-offers/{offer['id']}", headers=own)
            ).status_code == 200
    listed = (await client.get("/v1/marketplace-offers?marketplace=aws&status=draft",
                               headers=own)).json()["items"]
    assert [o["id"] for o in listed] == [offer["id"]]
    other = await list_partner("active")
    assert (await client.get(f"/v1/marketplace-offers/{offer['id']}",
                             headers=as_partner(other, ("marketplace:read",)))
            ).status_code == 404
    # a partner key cannot make one
    refused = await client.post("/v1/marketplace-offers", json=offer_body(deal),
                                headers=as_partner(deal["partner_id"],
                                                   ("marketplace:read", "marketplace:write")))
    assert refused.status_code == 403
    (event,) = await outbox(client, "prm.marketplace_offer.changed.v1", "offer_id",
                            offer["id"])
    assert event["change"] == "created" and event["vendor_net"]["amount"] == "97000.00"


async def test_bad_offers_are_refused_with_problems(client, list_partner, as_partner, seller):
    deal = await a_deal(client, list_partner, as_partner, seller)
    await an_offer(client, seller, deal)
    other = await a_deal(client, list_partner, as_partner, seller, name="Globex Corporation")
    lost = await a_deal(client, list_partner, as_partner, seller, name="Initech Systems")
    assert (await client.post(f"/v1/deals/{lost['id']}/lose", headers=seller, json={
        "reason": "gone"})).status_code == 200
    cases = {
        "kind of another marketplace": (offer_body(other, kind="azure_multiparty_private_offer"),
                                        422, "kind"),
        "unknown marketplace": (offer_body(other, marketplace="oracle"), 422, "marketplace"),
        "no such deal": (offer_body({**other, "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"}),
                         422, "deal_id"),
        "another partner": (offer_body(other, partner_id=deal["partner_id"]), 422,
                            "partner_id"),
        "other currency": (offer_body(other, partner_markup={"amount": "1.00",
                                                             "currency": "EUR"}),
                           422, "partner_markup.currency"),
        "fee above gross": (offer_body(other, marketplace_fee={"amount": {
            "amount": "200000.00", "currency": "USD"}}), 422, "marketplace_fee"),
        "percent and amount": (offer_body(other, marketplace_fee={
            "percent": "3", "amount": {"amount": "1.00", "currency": "USD"}}), 422,
            "marketplace_fee"),
        "float percent": (offer_body(other, marketplace_fee={"percent": 3.0}), 422,
                          "marketplace_fee.percent"),
        "float price": (offer_body(other, wholesale_price={"amount": 1.5, "currency": "USD"}),
                        422, "wholesale_price.amount"),
        "string months": (offer_body(other, duration_months="12"), 422, "duration_months"),
        "months and dates": (offer_body(other, starts_on="2027-01-01", ends_on="2028-01-01"),
                             422, ""),
        "end before start": (offer_body(other, duration_months=None, starts_on="2027-01-01",
                                        ends_on="2026-01-01"), 422, ""),
        "same offer id": (offer_body(other, external_offer_id=f"offer-{deal['id'][-12:]}"),
                          409, None),
        "closed deal": (offer_body(lost), 409, None),
    }
    for name, (body, status, field) in cases.items():
        refused = await client.post("/v1/marketplace-offers", json=body, headers=seller)
        assert refused.status_code == status, (name, refused.text)
        problem = refused.json()
        if field:
            assert any(e["field"].startswith(field) for e in problem["errors"]), (name, problem)
    dated = await an_offer(client, seller, other, duration_months=None,
                           starts_on="2027-01-01", ends_on="2028-01-01")
    assert (dated["starts_on"], dated["ends_on"], dated["duration_months"]) == \
        ("2027-01-01", "2028-01-01", None)


async def test_change_publish_cancel_and_history(client, list_partner, as_partner, seller):
    deal = await a_deal(client, list_partner, as_partner, seller)
    offer = await an_offer(client, seller, deal, external_offer_id=None)
    url = f"/v1/marketplace-offers/{offer['id']}"
    stale = await client.patch(url, headers={**seller, "If-Match": '"7"'},
                               json={"duration_months": 24})
    assert stale.status_code == 412
    unpublishable = await client.post(f"{url}/publish", headers={**seller, "If-Match": '"1"'})
    assert unpublishable.status_code == 422  # no marketplace offer id yet
    changed = await client.patch(url, headers={**seller, "If-Match": '"1"'}, json={
        "partner_markup": {"amount": "5000.00", "currency": "USD"},
        "external_offer_id": "offer-abc123"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["version"] == 2 and body["money"]["gross"]["amount"] == "105000.00"
    assert body["money"]["marketplace_fee"]["amount"] == "3150.00"  # 3 % again
    same = await client.patch(url, headers=seller, json={"external_offer_id": "offer-abc123"})
    assert same.json()["version"] == 2  # nothing changed
    published = await client.post(f"{url}/publish", headers={**seller, "If-Match": '"2"'})
    assert published.status_code == 200, published.text
    assert (published.json()["status"], published.json()["marketplace_status"]) == \
        ("published", "RELEASED")
    cancelled = await client.post(f"{url}/cancel", headers={**seller, "If-Match": '"3"'},
                                  json={"reason": "customer went direct"})
    assert cancelled.json()["status"] == "cancelled"
    again = await client.post(f"{url}/cancel", headers=seller)
    assert again.status_code == 409 and again.json()["type"] == "/problems/invalid-transition"
    assert (await client.patch(url, headers=seller, json={"duration_months": 6})
            ).status_code == 409
    history = (await client.get(f"{url}/history", headers=seller)).json()["items"]
    assert [(h["previous_status"], h["status"], h["marketplace_status"], h["source"])
            for h in history] == [(None, "draft", "DRAFT", "api"),
                                  ("draft", "published", "RELEASED", "api"),
                                  ("published", "cancelled", "CANCELLED", "api")]
    assert history[-1]["note"] == "customer went direct"


# Status mapping


@pytest.mark.parametrize(("marketplace", "word", "status"), [
    ("aws", "DRAFT", "draft"), ("aws", "RELEASED", "published"), ("aws", "ACTIVE", "active"),
    ("aws", "ARCHIVED", "expired"), ("aws", "EXPIRED", "expired"),
    ("aws", "CANCELLED", "cancelled"), ("aws", "TERMINATED", "cancelled"),
    ("aws", "REPLACED", "replaced"), ("aws", "RENEWED", "replaced"),
    ("aws", "active", "active"),
    ("azure", "draft", "draft"), ("azure", "pending", "draft"), ("azure", "live", "published"),
    ("azure", "accepted", "accepted"), ("azure", "Expired", "expired"),
    ("azure", "withdrawn", "cancelled"),
    ("gcp", "PUBLISHED", "published"), ("gcp", "ENTITLEMENT_OFFER_ACCEPTED", "accepted"),
    ("gcp", "ENTITLEMENT_ACTIVE", "active"), ("gcp", "ENTITLEMENT_OFFER_ENDED", "expired"),
    ("gcp", "ENTITLEMENT_CANCELLED", "cancelled"), ("gcp", "REPLACED", "replaced"),
    ("aws", "SOMETHING_NEW", None), ("azure", "ACTIVE", None),
])
def test_each_marketplaces_statuses_map_to_the_lifecycle(marketplace, word, status):
    assert statuses.mapped(marketplace, word) == status


def test_every_mapped_status_is_a_lifecycle_status_and_every_kind_has_a_marketplace():
    for words in statuses.MAPPING.values():
        assert set(words.values()) <= set(statuses.STATUSES)
    assert set(statuses.KINDS.values()) == set(statuses.MARKETPLACES)


# The signed intake


async def test_acceptance_wins_the_deal_once_for_the_vendors_net(
        client, list_partner, as_partner, seller, integration, marketplace_secret):
    deal = await a_deal(client, list_partner, as_partner, seller)
    offer = await an_offer(client, seller, deal)
    raw, headers = signed(aws_event(offer, "ACTIVE"))
    first = await deliver(client, integration, raw, headers)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["outcome"], answer["status"], answer["marketplace_status"],
            answer["duplicate"]) == ("applied", "active", "ACTIVE", False)
    assert answer["deal"]["outcome"] == "won"
    assert answer["deal"]["amount"] == {"amount": "97000.00", "currency": "USD"}
    won = (await client.get(f"/v1/deals/{deal['id']}", headers=seller)).json()
    assert won["status"] == "won"
    (event,) = await outbox(client, "prm.deal.won.v1", "deal_id", deal["id"])
    assert event["amount"] == {"amount": "97000.00", "currency": "USD"}
    seen = (await client.get(f"/v1/marketplace-offers/{offer['id']}", headers=seller)).json()
    assert seen["agreement_id"] == "agmt-1" and seen["deal_won_at"] and seen["accepted_at"]

    # the same event again: the same answer, nothing done
    replay = await deliver(client, integration, raw, headers)
    assert replay.status_code == 200
    assert replay.json() == {**answer, "duplicate": True}
    # another event saying the same: unchanged, the deal not won twice
    other = await deliver(client, integration, *signed(aws_event(offer, "ACTIVE", "evt-2")))
    assert other.json()["outcome"] == "unchanged"
    assert other.json()["deal"]["outcome"] == "already_won"
    assert len(await outbox(client, "prm.deal.won.v1", "deal_id", deal["id"])) == 1
    # an older status arriving late is recorded, not applied
    late = await deliver(client, integration, *signed(
        {**aws_event(offer, "RELEASED", "evt-0"), "detail-type": "Offer Status Changed"}))
    assert late.json()["outcome"] == "out_of_order" and late.json()["status"] == "active"
    ended = await deliver(client, integration, *signed(aws_event(offer, "EXPIRED", "evt-3")))
    assert ended.json()["status"] == "expired"
    history = (await client.get(f"/v1/marketplace-offers/{offer['id']}/history",
                                headers=seller)).json()["items"]
    assert [(h["status"], h["source"], h["event_id"]) for h in history] == [
        ("draft", "api", None), ("active", "event", "evt-1"), ("expired", "event", "evt-3")]


async def test_azure_and_gcp_acceptance(client, list_partner, as_partner, seller, integration,
                                        marketplace_secret):
    deal = await a_deal(client, list_partner, as_partner, seller)
    azure = await an_offer(client, seller, deal, marketplace="azure",
                           kind="azure_multiparty_private_offer",
                           external_offer_id="mpo-2a7b", win_deal_on_acceptance=False)
    live = await deliver(client, integration, *signed({
        "source": "azure", "id": "az-1", "type": "PrivateOfferStateChanged",
        "data": {"offerId": "mpo-2a7b", "state": "live"}}))
    assert live.json()["status"] == "published", live.text
    accepted = await deliver(client, integration, *signed({
        "source": "azure", "id": "az-2", "type": "PrivateOfferStateChanged",
        "data": {"offerId": "mpo-2a7b", "state": "accepted"}}))
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["deal"]["outcome"] == "not_asked"
    assert (await client.get(f"/v1/deals/{deal['id']}", headers=seller)).json()["status"] \
        == "approved"
    assert azure["marketplace_status"] == "draft"

    gcp = await an_offer(client, seller, deal, marketplace="gcp", kind="gcp_private_offer",
                         external_offer_id="po-77")
    message = {"source": "gcp", "eventId": "g-1", "eventType": "ENTITLEMENT_OFFER_ACCEPTED",
               "entitlement": {"id": "ent-1",
                               "offer": "projects/123/services/x/privateOffers/po-77"}}
    got = await deliver(client, integration, *signed(message))
    assert got.json()["status"] == "accepted" and got.json()["deal"]["outcome"] == "won"
    assert got.json()["offer_id"] == gcp["id"]


async def test_a_deal_not_in_a_winnable_state_is_said_so(
        client, list_partner, as_partner, seller, integration, marketplace_secret):
    deal = await a_deal(client, list_partner, as_partner, seller, approve=False)
    offer = await an_offer(client, seller, deal)
    answer = (await deliver(client, integration, *signed(aws_event(offer, "ACTIVE")))).json()
    assert answer["outcome"] == "applied" and answer["status"] == "active"
    assert answer["deal"]["outcome"] == "not_winnable"
    assert answer["deal"]["status"] == "submitted"
    assert not await outbox(client, "prm.deal.won.v1", "deal_id", deal["id"])
    # approved meanwhile, a later acceptance event wins it
    assert (await client.post(f"/v1/deals/{deal['id']}/approve", headers=seller,
                              json={"reason": "ok"})).status_code == 200
    later = (await deliver(client, integration, *signed(aws_event(offer, "ACTIVE", "evt-9"))
                           )).json()
    assert later["outcome"] == "unchanged" and later["deal"]["outcome"] == "won"


async def test_one_event_delivered_many_times_at_once_wins_once(prm_infra, partner_event):
    """Ten concurrent deliveries of one event, each on its own connection and transaction,
    committed for real: one applies it and wins the deal, the others answer it as a duplicate,
    and one prm.deal.won.v1 goes out."""
    fresh = create_app(Settings(marketplace_secret=SecretStr(SECRET)))
    partner_id = uuid.uuid4()
    async with fresh.state.sessionmaker() as session:
        for event in (partner_event(partner_id), partner_event(
                partner_id, version=2, status="active", previous_status="onboarding")):
            await HANDLERS[event.type](session, event)
        await session.commit()
    seller = vendor_headers(prm_infra.internal_secret, SCOPES)
    integration = vendor_headers(prm_infra.internal_secret, ("marketplace_events:write",),
                                 "key-marketplace-race")
    word = uuid.uuid4().hex[:10]
    async with committing_client(fresh) as client:
        made = await client.post("/v1/deals", headers=partner_headers(
            prm_infra.internal_secret, partner_id, ("deals:read", "deals:write")), json={
            "customer": {"name": f"Mr{word} Holdings", "domain": f"mr{word}.example",
                         "country": "US"},
            "amount": {"amount": "5000.00", "currency": "USD"}, "expected_close_date": CLOSE})
        assert made.status_code == 201, made.text
        deal = made.json()
        assert (await client.post(f"/v1/deals/{deal['id']}/approve", headers=seller, json={
            "reason": "ok"})).status_code == 200
        offer = await an_offer(client, seller, deal, external_offer_id=f"offer-race-{word}")
        raw, headers = signed(aws_event(offer, "ACTIVE", f"evt-race-{word}"))
        answers = await asyncio.gather(*[
            client.post("/v1/marketplace-events", content=raw, headers={**integration,
                                                                        **headers})
            for _ in range(10)])
        assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
        first = [a.json() for a in answers if not a.json()["duplicate"]]
        assert len(first) == 1 and first[0]["deal"]["outcome"] == "won"
        assert all(a.json() == {**first[0], "duplicate": True}
                   for a in answers if a.json()["duplicate"])
        types = await outbox_types(fresh.state.engine, deal["id"])
        assert types.count("prm.deal.won.v1") == 1, types


async def test_forged_stale_unsigned_and_unknown_deliveries_are_refused(
        client, list_partner, as_partner, seller, integration, marketplace_secret):
    deal = await a_deal(client, list_partner, as_partner, seller)
    offer = await an_offer(client, seller, deal)
    body = aws_event(offer, "ACTIVE")
    raw, headers = signed(body)
    now = int(time.time())
    attempts = {
        "tampered body": (raw.replace(b"ACTIVE", b"EXPIRED"), headers),
        "other secret": signed(body, secret="not-the-secret"),
        # A minute past the tolerance either way: the server reads its clock a little
        # later than here, and a slow run must not bring a future one within it.
        "stale": signed(body, at=now - SIGNATURE_TOLERANCE - 60),
        "future": signed(body, at=now + SIGNATURE_TOLERANCE + 60),
        "unsigned": (raw, {"Content-Type": "application/json"}),
        "garbled": (raw, {"Content-Type": "application/json",
                          "Marketplace-Signature": "v1=zz"}),
    }
    for name, (content, sent) in attempts.items():
        refused = await deliver(client, integration, content, sent)
        assert refused.status_code == 403, (name, refused.text)
        assert refused.json()["type"] == "/problems/invalid-signature", name
    assert (await client.get(f"/v1/deals/{deal['id']}", headers=seller)).json()["status"] \
        == "approved"
    # the scope: a vendor key with every other scope may not deliver
    assert (await deliver(client, seller, raw, headers)).status_code == 403
    unknown = await deliver(client, integration, *signed(
        {**body, "id": "evt-u", "detail": {**body["detail"], "offerId": "offer-nope"}}))
    assert unknown.status_code == 422
    assert unknown.json()["type"] == "/problems/unknown-marketplace-offer"
    assert unknown.json()["external_offer_id"] == "offer-nope"
    odd = await deliver(client, integration, *signed(
        {**body, "id": "evt-o", "detail": {**body["detail"], "status": "MYSTERY"}}))
    assert odd.status_code == 422
    # Partner Central's opportunity events are recorded and ignored
    ignored = await deliver(client, integration, *signed({
        "source": "aws.partnercentral-selling", "id": "pc-1", "detail-type":
        "Opportunity Updated", "detail": {"opportunity": {"identifier": "O123"}}}))
    assert ignored.status_code == 200 and ignored.json()["outcome"] == "ignored"


async def test_without_a_secret_every_delivery_is_refused(client, list_partner, as_partner,
                                                          seller, integration):
    deal = await a_deal(client, list_partner, as_partner, seller)
    offer = await an_offer(client, seller, deal)
    refused = await deliver(client, integration, *signed(aws_event(offer, "ACTIVE")))
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/marketplace-intake-not-configured"


# Fees


MINOR = st.integers(min_value=0, max_value=10**17)


@given(wholesale=MINOR, markup=MINOR, data=st.data())
def test_fee_shares_add_up_exactly(wholesale, markup, data):
    gross = wholesale + markup
    fee = data.draw(st.integers(min_value=0, max_value=gross))
    shares = fees.split(wholesale, markup, fee)
    assert shares.gross == wholesale + markup
    assert shares.vendor_net + shares.fee + shares.partner_margin == shares.gross
    assert shares.vendor_fee + shares.partner_fee == fee
    assert 0 <= shares.vendor_net <= wholesale and 0 <= shares.partner_margin <= markup
    assert all(isinstance(v, int) for v in vars(shares).values())


@given(gross=MINOR, percent=st.decimals(min_value=0, max_value=100, places=4))
def test_a_percentage_fee_is_exact_to_the_minor_unit(gross, percent):
    fee = fees.fee_of_percent(gross, percent)
    assert abs(Decimal(fee) - Decimal(gross) * percent / 100) <= Decimal("0.5")
    assert 0 <= fee <= gross
