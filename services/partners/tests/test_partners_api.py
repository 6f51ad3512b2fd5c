import uuid

from sqlalchemy import text

NEW = {"name": "Acme Cloud GmbH", "type": "msp", "country": "DE"}


async def create(client, headers, **overrides):
    response = await client.post("/v1/partners", json={**NEW, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_starts_onboarding_and_writes_event(client, vendor):
    response = await client.post("/v1/partners", json=NEW, headers=vendor)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "onboarding"
    assert body["version"] == 1
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/v1/partners/{body['id']}"
    rows = (await client.connection.execute(
        text("SELECT topic, key, event_type, envelope FROM outbox WHERE key = :k"),
        {"k": body["id"]})).all()
    assert [(r.topic, r.event_type) for r in rows] == [("prm.partners", "prm.partner.created.v1")]
    envelope = rows[0].envelope
    assert envelope["specversion"] == "1.0"
    assert envelope["subject"] == body["id"]
    assert envelope["data"]["partner"]["status"] == "onboarding"


async def test_get_and_list_with_filters_and_pagination(client, vendor):
    a = await create(client, vendor, name="A", country="FR", type="si")
    b = await create(client, vendor, name="B", country="FR", type="isv")
    c = await create(client, vendor, name="C", country="FR", type="si")
    got = await client.get(f"/v1/partners/{b['id']}", headers=vendor)
    assert got.status_code == 200 and got.json()["name"] == "B"

    page1 = (await client.get("/v1/partners?country=FR&limit=2", headers=vendor)).json()
    assert [p["id"] for p in page1["items"]] == [a["id"], b["id"]]
    page2 = (await client.get(f"/v1/partners?country=FR&limit=2&cursor={page1['next_cursor']}",
                              headers=vendor)).json()
    assert [p["id"] for p in page2["items"]] == [c["id"]]
    assert page2["next_cursor"] is None
    si = (await client.get("/v1/partners?country=FR&type=si", headers=vendor)).json()
    assert [p["name"] for p in si["items"]] == ["A", "C"]
    active = (await client.get("/v1/partners?country=FR&status=active", headers=vendor)).json()
    assert active["items"] == []


async def test_lifecycle_state_machine(client, vendor):
    p = await create(client, vendor)
    url = f"/v1/partners/{p['id']}"
    early = await client.post(f"{url}/reinstate", headers=vendor, json={"reason": "x"})
    assert early.status_code == 409
    assert early.headers["content-type"] == "application/problem+json"
    assert early.json()["type"] == "/problems/invalid-transition"
    assert early.json()["current_status"] == "onboarding"
    assert early.json()["allowed_from"] == ["offboarded"]

    active = await client.post(f"{url}/activate", headers=vendor)
    assert active.status_code == 200 and active.json()["status"] == "active"
    assert active.json()["activated_at"] is not None
    unexplained = await client.post(f"{url}/suspend", headers=vendor)
    assert unexplained.status_code == 422
    assert unexplained.json()["errors"][0]["field"] == "reason"
    suspended = await client.post(f"{url}/suspend", headers=vendor,
                                  json={"reason": "unpaid invoices"})
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["status_reason"] == "unpaid invoices"
    assert (await client.post(f"{url}/activate", headers=vendor)).json()["status"] == "active"
    offboarded = await client.post(f"{url}/offboard", headers=vendor,
                                   json={"reason": "left the programme"})
    assert offboarded.json()["status"] == "offboarded"
    again = await client.post(f"{url}/activate", headers=vendor)
    assert again.status_code == 409
    frozen = await client.patch(url, json={"name": "Renamed"}, headers=vendor)
    assert frozen.status_code == 409
    back = await client.post(f"{url}/reinstate", headers=vendor,
                             json={"reason": "signed again"})
    assert back.json()["status"] == "onboarding"
    events = (await client.connection.execute(
        text("SELECT envelope FROM outbox WHERE key = :k ORDER BY seq"), {"k": p["id"]}
    )).scalars().all()
    assert [e["type"] for e in events] == \
        ["prm.partner.created.v1"] + ["prm.partner.status_changed.v1"] * 5
    moves = [(e["data"]["previous_status"], e["data"]["partner"]["status"], e["data"]["reason"])
             for e in events[1:]]
    assert moves == [("onboarding", "active", None),
                     ("active", "suspended", "unpaid invoices"),
                     ("suspended", "active", None),
                     ("active", "offboarded", "left the programme"),
                     ("offboarded", "onboarding", "signed again")]


async def test_update_with_if_match(client, vendor):
    p = await create(client, vendor)
    url = f"/v1/partners/{p['id']}"
    stale = await client.patch(url, json={"name": "New"}, headers={**vendor, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["type"] == "/problems/precondition-failed"
    ok = await client.patch(url, json={"name": "New"}, headers={**vendor, "If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.json()["name"] == "New" and ok.json()["version"] == 2
    assert ok.headers["etag"] == '"2"'
    unchanged = await client.patch(url, json={"name": "New"}, headers=vendor)
    assert unchanged.json()["version"] == 2
    event = (await client.connection.execute(
        text("SELECT envelope FROM outbox WHERE key = :k AND event_type = "
             "'prm.partner.updated.v1'"), {"k": p["id"]})).scalar_one()
    assert event["data"]["changed"] == ["name"]


async def test_snapshots_carry_the_facts_lead_routing_matches(client, vendor, as_partner):
    """Countries served, languages and specialisations travel in every snapshot, and a change
    of any of them (a partner key may make it) is an update naming them."""
    p = await create(client, vendor, countries_served=["DE", "AT"], languages=["de", "en"],
                     specialisations=["cloud security"])
    url = f"/v1/partners/{p['id']}"
    for field, value in (("countries_served", ["DE", "AT", "CH"]), ("languages", ["de"]),
                         ("specialisations", ["cloud security", "SAP"])):  # kept folded: sap
        changed = await client.patch(url, json={field: value}, headers=as_partner(p["id"]))
        assert changed.status_code == 200, changed.text
    await client.post(f"{url}/activate", headers=vendor)
    events = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k ORDER BY seq"), {"k": p["id"]})).scalars()
    facts = [(e["type"], e["data"].get("changed"),
              {k: e["data"]["partner"][k]
               for k in ("countries_served", "languages", "specialisations")})
             for e in events]
    assert facts == [
        ("prm.partner.created.v1", None, {"countries_served": ["DE", "AT"],
                                          "languages": ["de", "en"],
                                          "specialisations": ["cloud security"]}),
        ("prm.partner.updated.v1", ["countries_served"], {
            "countries_served": ["DE", "AT", "CH"], "languages": ["de", "en"],
            "specialisations": ["cloud security"]}),
        ("prm.partner.updated.v1", ["languages"], {
            "countries_served": ["DE", "AT", "CH"], "languages": ["de"],
            "specialisations": ["cloud security"]}),
        ("prm.partner.updated.v1", ["specialisations"], {
            "countries_served": ["DE", "AT", "CH"], "languages": ["de"],
            "specialisations": ["cloud security", "sap"]}),
        ("prm.partner.status_changed.v1", None, {
            "countries_served": ["DE", "AT", "CH"], "languages": ["de"],
            "specialisations": ["cloud security", "sap"]}),
    ]


async def test_bad_input_is_a_problem(client, vendor):
    bad = await client.post("/v1/partners", json={"name": "", "type": "shop", "country": "XX"},
                            headers=vendor)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"name", "type", "country"}
    malformed = await client.post("/v1/partners", content=b"{not json",
                                  headers={**vendor, "content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["type"] == "/problems/malformed-request"
    missing = await client.get(f"/v1/partners/{uuid.uuid4()}", headers=vendor)
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"
    not_uuid = await client.get("/v1/partners/nope", headers=vendor)
    assert not_uuid.status_code == 404
    # The contract gives the cursor's shape, so a malformed one is a validation error.
    bad_cursor = await client.get("/v1/partners?cursor=!!", headers=vendor)
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["field"] == "cursor"
    too_big = await client.get("/v1/partners?limit=1000", headers=vendor)
    assert too_big.status_code == 422
    unknown = await client.get("/v1/nothing-here", headers=vendor)
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/not-found"
    method = await client.delete("/v1/partners", headers=vendor)
    assert method.status_code == 405 and method.json()["type"] == "/problems/method-not-allowed"


async def test_requests_without_valid_principal_are_refused(client, vendor):
    assert (await client.get("/v1/partners")).status_code == 401
    forged = await client.get("/v1/partners", headers={"x-prm-principal": "e30.e30.sig"})
    assert forged.status_code == 401
    assert forged.json()["type"] == "/problems/unauthenticated"


async def test_the_events_of_a_request_name_its_caller_and_request_id(client, as_vendor):
    headers = {**as_vendor(["partners:write"], subject="key-4711"), "X-Request-Id": "req-audit-1"}
    response = await client.post("/v1/partners", json={
        "name": "Caused GmbH", "type": "msp", "country": "DE"}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == "req-audit-1"
    envelope = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k ORDER BY seq LIMIT 1"),
        {"k": response.json()["id"]})).scalar_one()
    assert (envelope["actor"], envelope["requestid"]) == ("key:key-4711", "req-audit-1")


async def test_a_create_names_a_top_level_distributor_as_parent(client, vendor):
    distributor = await create(client, vendor, name="Dist AG", type="distributor")
    reseller = await create(client, vendor, name="Resell AG", type="reseller",
                            parent_id=distributor["id"], parent_access=True)
    assert (reseller["parent_id"], reseller["parent_access"]) == (distributor["id"], True)
    nested_distributor = await create(client, vendor, name="Sub AG", type="distributor")
    await client.connection.execute(text("UPDATE partners SET parent_id = :p WHERE id = :id"),
                                    {"p": distributor["id"], "id": nested_distributor["id"]})
    refused = {
        "unknown partner": str(uuid.uuid4()),
        "that partner is a reseller": reseller["id"],
        "not a top-level distributor": nested_distributor["id"],
    }
    before = await client.connection.scalar(text("SELECT count(*) FROM outbox"))
    for reason, parent_id in refused.items():
        answer = await client.post("/v1/partners", json={**NEW, "parent_id": parent_id},
                                   headers=vendor)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [
            {"location": "body", "field": "parent_id", "message": reason}]
    assert await client.connection.scalar(text("SELECT count(*) FROM outbox")) == before


async def test_a_taken_external_id_is_a_conflict_and_writes_nothing(client, vendor):
    first = await create(client, vendor, external_id="crm-77")
    before = await client.connection.scalar(text("SELECT count(*) FROM outbox"))
    again = await client.post("/v1/partners", json={**NEW, "name": "Other GmbH",
                                                    "external_id": "crm-77"}, headers=vendor)
    assert again.status_code == 409
    assert "PUT /v1/partners-by-external-id/" in again.json()["detail"]
    assert await client.connection.scalar(text("SELECT count(*) FROM outbox")) == before
    held = (await client.connection.execute(text(
        "SELECT id FROM partners WHERE external_id = 'crm-77'"))).scalars().all()
    assert [str(i) for i in held] == [first["id"]]


async def test_a_create_under_an_idempotency_key_is_made_once(client, vendor):
    headers = {**vendor, "Idempotency-Key": "onboard-acme-1"}
    made = await client.post("/v1/partners", json=NEW, headers=headers)
    assert made.status_code == 201
    again = await client.post("/v1/partners", json=NEW, headers=headers)
    assert (again.status_code, again.content) == (201, made.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert (again.headers["location"], again.headers["etag"]) == (
        made.headers["location"], made.headers["etag"])
    assert await client.connection.scalar(text(
        "SELECT count(*) FROM outbox WHERE key = :k"), {"k": made.json()["id"]}) == 1
    other = await client.post("/v1/partners", json={**NEW, "name": "Else GmbH"},
                              headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"


async def test_an_expired_idempotency_key_replays_nothing(client, vendor):
    """Past its 24 hours a key is free again: the same create is judged afresh (its external
    id is taken now, by the partner the first made), another is made under it."""
    headers = {**vendor, "Idempotency-Key": "onboard-acme-old"}
    made = await client.post("/v1/partners", json={**NEW, "external_id": "crm-88"},
                             headers=headers)
    assert made.status_code == 201
    await client.connection.execute(text(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' "
        "WHERE key = 'onboard-acme-old'"))
    again = await client.post("/v1/partners", json={**NEW, "external_id": "crm-88"},
                              headers=headers)
    assert again.status_code == 409, again.text
    assert "idempotent-replayed" not in again.headers
    other = await client.post("/v1/partners", json={**NEW, "external_id": "crm-89"},
                              headers=headers)
    assert other.status_code == 201 and other.json()["id"] != made.json()["id"]
    assert "idempotent-replayed" not in other.headers
