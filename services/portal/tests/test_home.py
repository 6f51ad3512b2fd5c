"""The partner home from the contexts' events: figures, scopes, and the same answer whatever
the order and however often the events arrive."""

import random
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def figures(home: dict) -> dict:
    return {
        "tier": home["tier"]["current"], "open": home["deals"]["open"],
        "by_status": home["deals"]["by_status"], "pipeline": home["deals"]["pipeline"],
        "protection_ending": [uuid.UUID(d["deal_id"])
                              for d in home["deals"]["protection_ending"]],
        "allocated": home["mdf"]["allocated"], "available": home["mdf"]["available"],
        "earned": home["accruals"]["earned"],
        "certifications_active": home["certifications"]["active"],
        "expiring": [c["code"] for c in home["certifications"]["expiring"]],
    }


async def test_the_home_shows_what_the_events_said(client, consume, story, as_partner, vendor):
    told = story()
    await consume(*told.events)
    response = await client.get("/v1/partner-home", headers=as_partner(told.partner_id))
    assert response.status_code == 200, response.text
    home = response.json()
    assert figures(home) == told.expected_figures()
    assert home["partner"]["status"] == "active"
    assert home["tier"]["criteria"] == {"revenue": "120000.00"}
    assert home["onboarding"]["completed"] is True
    ending = home["deals"]["protection_ending"][0]
    assert (ending["customer_name"], ending["days_left"]) == ("Globex Åkerberg AB", 10)
    assert home["mdf"]["requests_awaiting_decision"] == 1
    assert home["mdf"]["requests_sent_back"] == 1
    assert home["mdf"]["claims_awaiting_decision"] == 0
    assert home["payouts"]["last"]["total"] == {"amount": "400.00", "currency": "EUR"}
    assert home["payouts"]["last"]["payment_reference"] == "PAY-1"
    assert home["payouts"]["next"]["total"] == {"amount": "150.00", "currency": "EUR"}
    # Every section says the time of the last event it reflects.
    last = max(e.time for e in told.events)
    for section in ("deals", "mdf", "accruals", "payouts", "certifications"):
        assert home[section]["as_of"] is not None, section
    assert max(home[s]["as_of"] for s in ("deals", "mdf", "accruals", "payouts")) \
        == last.isoformat().replace("+00:00", "Z")
    # Vendor staff read the same home by naming the partner.
    by_vendor = await client.get("/v1/partner-home", headers=vendor,
                                 params={"partner_id": str(told.partner_id)})
    assert by_vendor.json() == home


async def test_each_section_needs_its_context_scope(client, consume, story, as_partner):
    told = story()
    await consume(*told.events)
    sales = as_partner(told.partner_id, ("portal:read", "deals:read"))
    home = (await client.get("/v1/partner-home", headers=sales)).json()
    assert home["deals"]["open"] == 3
    assert all(home[s] is None for s in ("partner", "tier", "mdf", "accruals", "payouts",
                                         "certifications", "onboarding"))
    refused = await client.get("/v1/partner-home",
                               headers=as_partner(told.partner_id, ("deals:read",)))
    assert refused.status_code == 403


async def test_a_partner_sees_only_its_own_home(client, consume, story, as_partner, vendor):
    told, other = story(), story()
    await consume(*told.events, *other.events)
    mine = as_partner(told.partner_id)
    named = await client.get("/v1/partner-home", headers=mine,
                             params={"partner_id": str(other.partner_id)})
    assert named.status_code == 404
    unknown = await client.get("/v1/partner-home", headers=vendor,
                               params={"partner_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    unnamed = await client.get("/v1/partner-home", headers=vendor)
    assert unnamed.status_code == 422
    assert "partner_id" in unnamed.text


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), repeats=st.integers(0, 10), batch=st.booleans())
async def test_any_order_and_repeats_give_the_same_home(client, consume, story, as_partner,
                                                        fresh, seed, repeats, batch):
    """Events of one aggregate may arrive out of order (a retry, a partition moved) and more
    than once (a replay), one poll at a time or all in one (whose rows the worker sends
    statement by statement): the home ends the same."""
    await fresh()
    told = story()
    shuffled = list(told.events)
    rng = random.Random(seed)
    rng.shuffle(shuffled)
    shuffled += rng.sample(told.events, repeats)
    await consume(*shuffled, batch=batch)
    home = (await client.get("/v1/partner-home", headers=as_partner(told.partner_id))).json()
    assert figures(home) == told.expected_figures()
    assert home["partner"]["status"] == "active"
    found = (await client.get("/v1/search", headers=as_partner(told.partner_id),
                              params={"q": "initech"})).json()["items"]
    assert [(r["kind"], r["status"]) for r in found] == [("deal", "approved")]
