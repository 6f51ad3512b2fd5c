"""Search across records: ranked, any script and accent, and only what the caller may read."""

import uuid


async def found(client, headers, q: str, **params) -> list[tuple[str, str]]:
    response = await client.get("/v1/search", headers=headers, params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [(r["kind"], r["title"]) for r in response.json()["items"]]


async def test_search_finds_partners_deals_and_requests(client, consume, story, as_partner,
                                                        vendor):
    told, other = story(), story()
    await consume(*told.events, *other.events)
    mine = as_partner(told.partner_id)
    # Accents, case and width ignored both ways.
    assert await found(client, mine, "AKERBERG") == [("deal", "Globex Åkerberg AB")]
    assert await found(client, mine, "ｇｌｏｂｅｘ") == [("deal", "Globex Åkerberg AB")]
    assert await found(client, mine, "webinar") == [("mdf_request", "Webinar")]
    name = f"Müller Systemhaus {str(told.partner_id)[:8]}"
    assert await found(client, mine, "muller") == [("partner", name)]
    # A partner's people find only their own org's records; the vendor finds both.
    assert ("deal", "Initech") in await found(client, vendor, "initech")
    assert len(await found(client, vendor, "initech")) == 2
    assert await found(client, mine, "initech") == [("deal", "Initech")]
    # Kinds: asked for, and those the caller may read.
    assert await found(client, mine, "initech", kind="partner") == []
    sales = as_partner(told.partner_id, ("portal:read", "deals:read"))
    assert await found(client, sales, "webinar") == []


async def test_ranking_puts_the_closest_titles_first(client, consume, story, vendor):
    from prm_contracts import Amount, Customer, DealRegisteredV1
    from prm_events.envelope import new_event

    partner = uuid.uuid4()
    events = []
    for name in ("Big Acme Holdings", "Acme", "Acme Corporation", "Nacmecorp"):
        deal = uuid.uuid4()
        events.append(new_event(DealRegisteredV1(
            deal_id=deal, partner_id=partner, customer=Customer(
                name=name, domain=f"{uuid.uuid4().hex[:8]}.example", country="DE"),
            amount=Amount(amount="10.00", currency="EUR"), expected_close_date="2027-06-30",
            status="submitted"), source="/prm/deals", subject=str(deal), partner_id=partner))
    await consume(*events)
    titles = [t for _, t in await found(client, vendor, "acme", kind="deal")]
    assert titles == ["Acme", "Acme Corporation", "Big Acme Holdings", "Nacmecorp"]
    assert len(await found(client, vendor, "acme", kind="deal", limit=2)) == 2


async def test_bad_searches_are_problems(client, vendor):
    for params in ({"q": ""}, {"q": "x", "kind": "contacts"}, {"q": "x", "limit": 51},
                   {"q": " ".join("w" * 9)}, {"q": "ab\x00c"}):
        response = await client.get("/v1/search", headers=vendor, params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")
    percent = await client.get("/v1/search", headers=vendor, params={"q": "100%_"})
    assert percent.status_code == 200 and percent.json()["items"] == []


async def test_vendor_staff_find_direct_accounts_and_partners_never(client, consume, vendor,
                                                                   as_partner, prm_infra):
    from prm_contracts import DirectAccountChangedV1
    from prm_events.envelope import new_event

    account = uuid.uuid4()

    def changed(name: str, version: int, removed: bool = False):
        return new_event(DirectAccountChangedV1(account_id=account, name=name,
                                                domain="wayne.example", country="US",
                                                removed=removed, version=version),
                         source="/prm/deals", subject=str(account))

    await consume(changed("Wayne Enterprises", 1), changed("Wayne Enterprises Inc", 2))
    assert await found(client, vendor, "wayne") == []  # without direct_accounts:read
    from prm_stack.testing import vendor_headers

    staff = vendor_headers(prm_infra.internal_secret, ("portal:read", "direct_accounts:read"))
    assert await found(client, staff, "wayne") == [("direct_account", "Wayne Enterprises Inc")]
    assert await found(client, as_partner(uuid.uuid4()), "wayne") == []
    # Removed, then an older change arriving late: it stays removed.
    await consume(changed("Wayne Enterprises Inc", 3, removed=True), changed("Wayne", 1))
    assert await found(client, staff, "wayne") == []


async def test_contacts_are_found_by_those_who_may_read_them_and_forgotten_when_erased(
        client, consume, as_partner, prm_infra, engine):
    from prm_contracts import ContactChangedV1
    from prm_events.envelope import new_event
    from prm_stack.testing import vendor_headers

    partner, contact = uuid.uuid4(), uuid.uuid4()

    def changed(version: int, removed: bool = False, name: str = "Zoë Nakamura-Öztürk"):
        return new_event(ContactChangedV1(
            contact_id=contact, partner_id=partner, name=None if removed else name,
            email=None if removed else "zoe@acme.example",
            job_title=None if removed else "Alliance lead", removed=removed, version=version),
            source="/prm/partners", subject=str(partner), partner_id=partner)

    await consume(changed(1))
    admin = as_partner(partner, ("portal:read", "contacts:read"))
    assert await found(client, admin, "ozturk") == [("contact", "Zoë Nakamura-Öztürk")]
    assert await found(client, admin, "zoe@acme") == [("contact", "Zoë Nakamura-Öztürk")]
    sales = as_partner(partner, ("portal:read", "deals:read"))
    assert await found(client, sales, "ozturk") == []  # no contacts:read
    other = as_partner(uuid.uuid4(), ("portal:read", "contacts:read"))
    assert await found(client, other, "ozturk") == []
    staff = vendor_headers(prm_infra.internal_secret, ("portal:read", "contacts:read"))
    assert await found(client, staff, "nakamura") == [("contact", "Zoë Nakamura-Öztürk")]
    # Erased: nothing of the person is kept, whatever arrives late.
    await consume(changed(3, removed=True), changed(2, name="Zoë Nakamura"))
    assert await found(client, staff, "nakamura") == []
    from sqlalchemy import text

    async with engine.connect() as connection:
        kept = (await connection.execute(text(
            "SELECT title, subtitle FROM search_entries WHERE id = :id"), {"id": contact})).one()
    assert tuple(kept) == ("", "")
