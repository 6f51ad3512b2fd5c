"""Every list of the service speaks the one grammar, each of its filters, ranges, sorts,
searches and change feeds is served by an index, and the main lists' filters, sorts, search
and change feed answer what they say on real rows."""

import datetime as dt
import uuid

from sqlalchemy import text

from prm_contracts import Customer, PartnerCreatedV1, PartnerSnapshot
from prm_events.envelope import CloudEvent
from prm_platform.ids import new_id
from prm_stack.testing import check_lists_use_indexes, list_routes

LISTS = {"/v1/touchpoints", "/v1/attribution-rules", "/v1/attributed-deals",
         "/v1/attribution-vendor-figures", "/v1/attribution-kpis",
         "/v1/attribution-kpis/mdf-activities", "/v1/attribution-kpis/campaigns"}


def test_every_list_declares_the_grammar(app):
    assert set(list_routes(app)) == LISTS


async def test_every_filter_sort_and_search_is_served_by_an_index(app, engine):
    checked = await check_lists_use_indexes(app, engine)
    assert {"partner_id", "kind", "campaign_id", "occurred_at[gte]", "sort=occurred_at"} <= set(
        checked["/v1/touchpoints"])
    assert {"partner_id", "status", "amount[gte]", "q", "updated_since"} <= set(
        checked["/v1/attributed-deals"])
    assert {"partner_id", "partner_type", "tier", "country", "q"} <= set(
        checked["/v1/attribution-kpis"])


PERIOD = {"from": "2026-09-01", "to": "2026-12-01"}


def named(partner_id: uuid.UUID, name: str, *, tier: str = "Gold", country: str = "DE",
          at: dt.datetime = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)) -> CloudEvent:
    """A partner created with this name, tier and country."""
    return CloudEvent(id=new_id(), source="/prm/partners", type=PartnerCreatedV1.event_type,
                      subject=str(partner_id), time=at, data=PartnerCreatedV1(
                          partner=PartnerSnapshot(id=partner_id, name=name, type="si",
                                                  country=country, status="active", version=1,
                                                  tier=tier)).model_dump(mode="json"))


async def every_page(client, url: str, headers, **params) -> list[dict]:
    """Every item of a list, following its cursors."""
    items: list[dict] = []
    cursor = None
    while True:
        response = await client.get(url, headers=headers,
                                    params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def ids(items: list[dict], key: str = "id") -> list[str]:
    return [item[key] for item in items]


async def test_touchpoints_filter_sort_and_stay_within_a_partner_keys_org(
        client, apply, vendor, as_partner, kit):
    a, b = uuid.uuid4(), uuid.uuid4()
    first, second = kit.DealStory(a), kit.DealStory(a)
    await apply(named(a, "Nordwind Beratung"), first.registered(), second.registered())
    recorded = {}
    for partner, deal, kind, days in ((a, first, "consulting", 1), (a, second, "referral", 2),
                                      (a, first, "training", 3), (b, first, "co_sell", 4)):
        response = await client.post("/v1/touchpoints", headers=vendor, json={
            "partner_id": str(partner), "deal_id": str(deal.deal_id), "kind": kind,
            "occurred_at": (kit.T0 + dt.timedelta(days=days)).isoformat(),
            "evidence": {"description": kind}})
        assert response.status_code == 201, response.text
        assert response.json()["partner_name"] == ("Nordwind Beratung" if partner == a else None)
        recorded[kind] = response.json()["id"]
    both = f"{a},{b}"
    # Several values, comma-separated or repeated.
    chosen = await every_page(client, "/v1/touchpoints", vendor, partner_id=str(a),
                              kind="consulting,referral")
    assert sorted(ids(chosen)) == sorted([recorded["consulting"], recorded["referral"]])
    repeated = await client.get(f"/v1/touchpoints?partner_id={a}&kind=consulting"
                                "&kind=training&include=total_count", headers=vendor)
    assert repeated.json()["total_count"] == 2
    assert {t["kind"] for t in repeated.json()["items"]} == {"consulting", "training"}
    # A range on when it happened (half-open).
    ranged = await every_page(client, "/v1/touchpoints", vendor, partner_id=both, **{
        "occurred_at[gte]": (kit.T0 + dt.timedelta(days=2)).isoformat(),
        "occurred_at[lt]": (kit.T0 + dt.timedelta(days=4)).isoformat()})
    assert ids(ranged) == [recorded["referral"], recorded["training"]]
    # A sort across pages: two registrations and four touches, newest first, two a page.
    newest_first = await every_page(client, "/v1/touchpoints", vendor, partner_id=both,
                                    sort="-occurred_at", limit=2)
    assert len(newest_first) == 6
    times = [t["occurred_at"] for t in newest_first]
    assert times == sorted(times, reverse=True)
    assert {t["partner_name"] for t in newest_first} == {"Nordwind Beratung", None}
    # The registrations come from the events.
    registrations = await every_page(client, "/v1/touchpoints", vendor, partner_id=str(a),
                                     source="event")
    assert {t["deal_id"] for t in registrations} == {str(first.deal_id), str(second.deal_id)}
    # The touches recorded since a time, for a sync.
    since = dt.datetime.now(dt.UTC)
    late = await client.post("/v1/touchpoints", headers=vendor, json={
        "partner_id": str(a), "deal_id": str(second.deal_id), "kind": "marketing",
        "occurred_at": kit.T0.isoformat(), "evidence": {"description": "late"}})
    pulled = await every_page(client, "/v1/touchpoints", vendor, partner_id=both,
                              sort="recorded_at", **{"recorded_at[gte]": since.isoformat()})
    assert ids(pulled) == [late.json()["id"]]
    # A partner key: its own org's, whatever it filters by.
    own = await every_page(client, "/v1/touchpoints", as_partner(b), partner_id=both)
    assert ids(own) == [recorded["co_sell"]]
    assert await every_page(client, "/v1/touchpoints", as_partner(b), partner_id=str(a)) == []
    refused = await client.get("/v1/touchpoints?kind=registration,nonsense", headers=vendor)
    assert refused.status_code == 422


async def test_attributed_deals_filter_search_and_feed_changes(client, apply, vendor,
                                                               as_partner, kit):
    a, b = uuid.uuid4(), uuid.uuid4()
    mueller = kit.DealStory(a, amount="1000.00", domain=f"mueller-{a.hex[:8]}.example")
    mueller.customer = Customer(name="Müller Électronique SARL",
                                domain=mueller.customer.domain, country="FR")
    globex = kit.DealStory(a, amount="5000.00", currency="USD")
    initech = kit.DealStory(b, amount="200.00")
    await apply(named(a, "Nordwind Beratung"),
                *(e for d in (mueller, globex, initech) for e in (d.registered(), d.approved())),
                mueller.won())
    both = f"{a},{b}"

    async def deals(headers=vendor, **params) -> list[str]:
        return ids(await every_page(client, "/v1/attributed-deals", headers, **params),
                   "deal_id")

    assert sorted(await deals(partner_id=both)) == sorted(
        str(d.deal_id) for d in (mueller, globex, initech))
    assert await deals(partner_id=both, status="won") == [str(mueller.deal_id)]
    assert sorted(await deals(partner_id=both, status="won,approved")) == sorted(
        str(d.deal_id) for d in (mueller, globex, initech))
    assert await deals(partner_id=both, currency="USD") == [str(globex.deal_id)]
    assert await deals(partner_id=both, **{"amount[gte]": "500", "amount[lt]": "2000"}) == [
        str(mueller.deal_id)]
    assert await deals(partner_id=both, basis="won") == [str(mueller.deal_id)]
    assert len(await deals(partner_id=both, basis="won,pipeline")) == 3
    # The customer's name and domain, case and accents ignored.
    for words in ("muller ELECTRONIQUE", "MÜLLER", "élec sarl", mueller.customer.domain):
        assert await deals(partner_id=both, q=words) == [str(mueller.deal_id)], words
    assert await deals(partner_id=both, q="müller globex") == []
    # Deal id order across pages, either way.
    forward = await deals(partner_id=both, limit=1)
    assert forward == sorted(forward) and len(forward) == 3
    assert await deals(partner_id=both, limit=2, sort="-created_at") == forward[::-1]
    [item] = await every_page(client, "/v1/attributed-deals", vendor, partner_id=str(a),
                              status="won")
    assert item["customer_name"] == "Müller Électronique SARL"
    assert [(c["partner_id"], c["partner_name"]) for c in item["credits"]] == [
        (str(a), "Nordwind Beratung")]
    # The change feed: a deal won and a deal whose credits changed since, oldest change first.
    since = (await client.connection.execute(text("SELECT clock_timestamp()"))).scalar_one()
    await apply(globex.won())
    touched = await client.post("/v1/touchpoints", headers=vendor, json={
        "partner_id": str(a), "deal_id": str(initech.deal_id), "kind": "co_sell",
        "occurred_at": (kit.T0 + dt.timedelta(days=2)).isoformat(),
        "evidence": {"description": "Joint call"}})
    assert touched.status_code == 201, touched.text
    changed = await every_page(client, "/v1/attributed-deals", vendor, partner_id=both,
                               updated_since=since.isoformat())
    assert ids(changed, "deal_id") == [str(globex.deal_id), str(initech.deal_id)]
    assert all(dt.datetime.fromisoformat(d["updated_at"]) >= since for d in changed)
    assert {c["partner_id"] for c in changed[1]["credits"]} == {str(a), str(b)}
    # A partner key: the deals it holds a credit on, its own credit only, whatever it asks.
    mine = await every_page(client, "/v1/attributed-deals", as_partner(b), partner_id=both)
    assert ids(mine, "deal_id") == [str(initech.deal_id)]
    assert [c["partner_id"] for c in mine[0]["credits"]] == [str(b)]
    assert await deals(as_partner(b), partner_id=str(a)) == []
    assert await deals(as_partner(b), q="müller") == []
    for bad in ("basis=lost", "rules_version=0", "status=" + ",".join(["x"] * 101)):
        response = await client.get(f"/v1/attributed-deals?{bad}", headers=vendor)
        assert response.status_code == 422, bad


async def test_kpis_page_the_programmes_partners_by_directory_filters_and_name(
        client, apply, vendor, as_partner, kit):
    a, b, c, unknown = sorted(uuid.uuid4() for _ in range(4))
    await apply(named(a, "Nordwind Beratung"),
                named(b, "Zürich Partners AG", tier="Silver", country="CH"),
                named(c, "Gallia Conseil", country="FR"),
                kit.DealStory(unknown).registered())  # its partner events not here yet
    every = ",".join(str(p) for p in (a, b, c, unknown))

    async def rows(headers=vendor, **params) -> list[str]:
        return ids(await every_page(client, "/v1/attribution-kpis", headers, **PERIOD,
                                    partner_id=every, **params), "partner_id")

    # Partner id order across pages; a partner the directory has not heard of has no name.
    paged = await every_page(client, "/v1/attribution-kpis", vendor, **PERIOD,
                             partner_id=every, limit=1)
    assert ids(paged, "partner_id") == [str(p) for p in (a, b, c, unknown)]
    assert [r["partner_name"] for r in paged] == [
        "Nordwind Beratung", "Zürich Partners AG", "Gallia Conseil", None]
    assert await rows(limit=3, sort="-created_at") == [str(p) for p in (unknown, c, b, a)]
    assert await rows(tier="Gold") == [str(a), str(c)]
    assert await rows(tier="Gold,Silver", country="CH,FR") == [str(b), str(c)]
    assert await rows(partner_type="si", country="DE") == [str(a)]
    assert await rows(q="zurich") == [str(b)]
    assert await rows(q="NORDWIND beratung") == [str(a)]
    counted = await client.get("/v1/attribution-kpis", headers=vendor, params={
        **PERIOD, "partner_id": every, "tier": "Gold", "include": "total_count", "limit": 1})
    assert counted.json()["total_count"] == 2 and counted.json()["next_cursor"]
    # A partner key: its own row, whatever it asks for.
    assert await rows(as_partner(b)) == [str(b)]
    assert await rows(as_partner(b), q="nordwind") == []


async def test_the_smaller_lists_filter_and_sort(client, apply, vendor, as_partner, kit):
    a = uuid.uuid4()
    first = kit.MdfStory(a, activity_type=f"webinar-{a.hex[:6]}")
    second = kit.MdfStory(a, activity_type=f"event-{a.hex[:6]}", start=dt.date(2026, 10, 1))
    third = kit.MdfStory(a, activity_type=f"print-{a.hex[:6]}")
    await apply(named(a, "Nordwind Beratung"), first.submitted(), second.submitted(),
                third.submitted(), third.approved())
    activities = await every_page(
        client, "/v1/attribution-kpis/mdf-activities", vendor, **PERIOD, partner_id=str(a),
        activity_type=f"{first.activity_type},{second.activity_type}")
    assert sorted(ids(activities, "request_id")) == sorted(
        str(m.request_id) for m in (first, second))
    assert {r["partner_name"] for r in activities} == {"Nordwind Beratung"}
    approved = await every_page(client, "/v1/attribution-kpis/mdf-activities", as_partner(a),
                                **PERIOD, status="approved")
    assert ids(approved, "request_id") == [str(third.request_id)]
    october = await every_page(client, "/v1/attribution-kpis/mdf-activities", vendor,
                               **PERIOD, partner_id=str(a), **{"start_date[gte]": "2026-10-01"})
    assert ids(october, "request_id") == [str(second.request_id)]
    assert await every_page(client, "/v1/attribution-kpis/mdf-activities",
                            as_partner(uuid.uuid4()), **PERIOD, partner_id=str(a)) == []

    rules = (await client.get("/v1/attribution-rules?sort=-version&limit=1",
                              headers=vendor)).json()
    newest = (await client.get("/v1/attribution-rules/current", headers=vendor)).json()
    assert rules["items"][0]["version"] == newest["version"] and rules["next_cursor"]
    assert ids((await client.get("/v1/attribution-rules?version=1,2",
                                 headers=vendor)).json()["items"], "version") == [1, 2]

    for kind, start, end in (("total_pipeline", "2031-01-01", "2031-02-01"),
                             ("acquisition_cost", "2031-01-01", "2031-04-01"),
                             ("acquisition_cost", "2031-04-01", "2031-07-01")):
        response = await client.post("/v1/attribution-vendor-figures", headers=vendor, json={
            "kind": kind, "period_from": start, "period_to": end,
            "amount": {"amount": "100.00", "currency": "EUR"}})
        assert response.status_code == 201, response.text
    figures = await every_page(client, "/v1/attribution-vendor-figures", vendor,
                               kind="acquisition_cost", sort="-period_from",
                               **{"period_from[gte]": "2031-01-01"})
    assert [f["period_from"] for f in figures] == ["2031-04-01", "2031-01-01"]
