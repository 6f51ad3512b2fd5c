"""Contacts: CRUD with partner self-service, e-mail uniqueness, GDPR export and erasure."""

from sqlalchemy import text

from prm_partners.contacts.service import contact_count

PRIYA = {"name": "Priya Raman", "email": "Priya@Northwind.example", "phone": "+44 20 7946 0018",
         "job_title": "Head of Alliances", "roles": ["admin", "sales"]}


async def new_partner(client, vendor, name="Northwind Ltd"):
    created = await client.post("/v1/partners", json={
        "name": name, "type": "reseller", "country": "GB"}, headers=vendor)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def url(partner_id, *rest):
    return "/".join([f"/v1/partners/{partner_id}/contacts", *map(str, rest)])


async def add(client, headers, partner_id, **overrides):
    response = await client.post(url(partner_id), json={**PRIYA, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_get_list_update(client, vendor):
    partner = await new_partner(client, vendor)
    created = await client.post(url(partner), json=PRIYA, headers=vendor)
    assert created.status_code == 201
    body = created.json()
    assert created.headers["location"] == url(partner, body["id"])
    assert created.headers["etag"] == '"1"'
    assert body["email"] == "Priya@northwind.example"  # the domain part normalised
    assert body["roles"] == ["admin", "sales"] and body["erased"] is False

    got = await client.get(url(partner, body["id"]), headers=vendor)
    assert got.status_code == 200 and got.json() == body

    second = await add(client, vendor, partner, name="Tom", email="tom@northwind.example",
                       roles=["technical"])
    third = await add(client, vendor, partner, name="Ana", email="ana@northwind.example",
                      roles=["sales", "sales"])
    assert third["roles"] == ["sales"]  # repeats dropped
    page1 = (await client.get(url(partner) + "?limit=2", headers=vendor)).json()
    assert [c["id"] for c in page1["items"]] == [body["id"], second["id"]]
    page2 = (await client.get(url(partner) + f"?limit=2&cursor={page1['next_cursor']}",
                              headers=vendor)).json()
    assert [c["id"] for c in page2["items"]] == [third["id"]] and page2["next_cursor"] is None
    sales = (await client.get(url(partner) + "?role=sales", headers=vendor)).json()["items"]
    assert [c["id"] for c in sales] == [body["id"], third["id"]]
    by_email = (await client.get(url(partner) + "?email=PRIYA@northwind.EXAMPLE",
                                 headers=vendor)).json()["items"]
    assert [c["id"] for c in by_email] == [body["id"]]

    stale = await client.patch(url(partner, body["id"]), json={"job_title": "VP"},
                               headers={**vendor, "If-Match": '"7"'})
    assert stale.status_code == 412
    changed = await client.patch(url(partner, body["id"]),
                                 json={"job_title": "VP", "phone": None},
                                 headers={**vendor, "If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["job_title"] == "VP" and changed.json()["phone"] is None
    assert changed.headers["etag"] == '"2"'


async def test_email_is_unique_per_partner_case_insensitively(client, vendor):
    partner = await new_partner(client, vendor)
    other = await new_partner(client, vendor, "Other Ltd")
    first = await add(client, vendor, partner)
    again = await client.post(url(partner), json={**PRIYA, "email": "PRIYA@northwind.example"},
                              headers=vendor)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["contact_id"] == first["id"]
    # another partner may know the same person
    await add(client, vendor, other)
    tom = await add(client, vendor, partner, name="Tom", email="tom@northwind.example")
    taken = await client.patch(url(partner, tom["id"]), json={"email": "priya@NORTHWIND.example"},
                               headers=vendor)
    assert taken.status_code == 409


async def test_partner_self_service(client, vendor, as_partner):
    partner = await new_partner(client, vendor)
    admin = as_partner(partner, ["contacts:read", "contacts:write"])
    created = await add(client, admin, partner)
    assert (await client.get(url(partner, created["id"]), headers=admin)).status_code == 200
    changed = await client.patch(url(partner, created["id"]), json={"roles": ["marketing"]},
                                 headers=admin)
    assert changed.status_code == 200 and changed.json()["roles"] == ["marketing"]

    reader = as_partner(partner, ["contacts:read"])
    assert (await client.get(url(partner), headers=reader)).status_code == 200
    refused = await client.post(url(partner), json={**PRIYA, "email": "x@northwind.example"},
                                headers=reader)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/forbidden"
    no_scope = as_partner(partner, ["partners:read", "partners:write"])
    assert (await client.get(url(partner), headers=no_scope)).status_code == 403
    assert (await client.get(url(partner, created["id"], "export"),
                             headers=reader)).status_code == 403


async def test_bad_input_is_a_problem(client, vendor):
    partner = await new_partner(client, vendor)
    cases = [
        ({**PRIYA, "name": "x" * 201}, "name"),
        ({**PRIYA, "email": "not-an-address"}, "email"),
        ({**PRIYA, "email": "a@" + "b" * 250 + ".example"}, "email"),
        ({**PRIYA, "roles": ["admin", "ceo"]}, "roles[1]"),
        ({**PRIYA, "roles": ["admin"] * 5}, "roles"),
        ({**PRIYA, "phone": "call me maybe"}, "phone"),
        ({**PRIYA, "country": "XX"}, "country"),
        ({k: v for k, v in PRIYA.items() if k != "email"}, "email"),
    ]
    for body, field in cases:
        response = await client.post(url(partner), json=body, headers=vendor)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    created = await add(client, vendor, partner)
    nulled = await client.patch(url(partner, created["id"]), json={"name": None},
                                headers=vendor)
    assert nulled.status_code == 422
    missing = await client.get(url(partner, "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"),
                               headers=vendor)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    unknown = await client.post(url("0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"), json=PRIYA,
                                headers=vendor)
    assert unknown.status_code == 404


async def _certify_and_sign(client, vendor, partner, contact_id):
    code = "GDPR-T1"
    assert (await client.post("/v1/certification-types", json={
        "code": code, "name": "Test cert", "validity_months": 12}, headers=vendor)
            ).status_code == 201
    certification = await client.post(f"/v1/partners/{partner}/certifications", json={
        "code": code, "contact_id": contact_id, "earned_on": "2026-01-15"}, headers=vendor)
    assert certification.status_code == 201, certification.text
    agreement = (await client.post("/v1/agreements", json={
        "code": "gdpr-test-agreement", "title": "Test agreement"}, headers=vendor)).json()
    assert (await client.post(f"/v1/agreements/{agreement['id']}/versions", json={
        "effective_on": "2025-01-01", "term_months": 12}, headers=vendor)).status_code == 201
    signature = await client.post(f"/v1/partners/{partner}/agreements", json={
        "agreement": "gdpr-test-agreement", "signed_on": "2026-01-20",
        "signer_contact_id": contact_id}, headers=vendor)
    assert signature.status_code == 201, signature.text
    assert signature.json()["signer_name"] == "Priya Raman"
    return certification.json(), signature.json()


async def test_export_holds_everything_about_the_contact(client, vendor, as_partner):
    partner = await new_partner(client, vendor)
    contact = await add(client, vendor, partner)
    await add(client, vendor, partner, name="Tom", email="tom@northwind.example")
    certification, signature = await _certify_and_sign(client, vendor, partner, contact["id"])
    await client.patch(url(partner, contact["id"]), json={"job_title": "VP"}, headers=vendor)

    admin = as_partner(partner, ["contacts:read", "contacts:write"])
    exported = await client.get(url(partner, contact["id"], "export"), headers=admin)
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["contact"]["email"] == "Priya@northwind.example"
    assert document["contact"]["job_title"] == "VP"
    assert [c["id"] for c in document["certifications"]] == [certification["id"]]
    assert document["certifications"][0]["code"] == "GDPR-T1"
    assert [s["id"] for s in document["signatures"]] == [signature["id"]]
    assert document["signatures"][0]["signer_name"] == "Priya Raman"
    assert [(e["action"], e["actor"]) for e in document["audit"]] == [
        ("created", "key-vendor"), ("updated", "key-vendor"), ("exported", f"key-{partner}")]
    assert document["audit"][1]["fields"] == ["job_title"]
    assert "Tom" not in exported.text


async def test_erase_keeps_integrity_and_is_audited(client, vendor):
    partner = await new_partner(client, vendor)
    contact = await add(client, vendor, partner)
    certification, signature = await _certify_and_sign(client, vendor, partner, contact["id"])

    stale = await client.post(url(partner, contact["id"], "erase"),
                              headers={**vendor, "If-Match": '"9"'})
    assert stale.status_code == 412
    erased = await client.post(url(partner, contact["id"], "erase"), headers=vendor)
    assert erased.status_code == 200, erased.text
    tombstone = erased.json()
    assert tombstone["erased"] is True and tombstone["erased_at"]
    assert {k: tombstone[k] for k in ("name", "email", "phone", "job_title", "roles")} == {
        "name": None, "email": None, "phone": None, "job_title": None, "roles": []}
    row = (await client.connection.execute(text(
        "SELECT * FROM contacts WHERE id = :id"), {"id": contact["id"]})).mappings().one()
    assert "Priya" not in str(dict(row)) and "northwind" not in str(dict(row))

    # the records that name the contact are intact, without the name recorded from it
    kept = await client.get(f"/v1/partners/{partner}/certifications/{certification['id']}",
                            headers=vendor)
    assert kept.json()["contact_id"] == contact["id"]
    signed = await client.get(f"/v1/partners/{partner}/agreements/{signature['id']}",
                              headers=vendor)
    assert signed.json()["signer_contact_id"] == contact["id"]
    assert signed.json()["signer_name"] is None

    listed = (await client.get(url(partner), headers=vendor)).json()["items"]
    assert contact["id"] not in {c["id"] for c in listed}
    with_erased = (await client.get(url(partner) + "?include_erased=true",
                                    headers=vendor)).json()["items"]
    assert contact["id"] in {c["id"] for c in with_erased}
    frozen = await client.patch(url(partner, contact["id"]), json={"name": "Back"},
                                headers=vendor)
    assert frozen.status_code == 409
    assert (await client.post(url(partner, contact["id"], "erase"), headers=vendor)
            ).status_code == 409
    # the address is free again
    await add(client, vendor, partner)

    audit = (await client.connection.execute(text(
        "SELECT action, actor, fields, detail FROM contact_audit WHERE contact_id = :id "
        "ORDER BY at, id"), {"id": contact["id"]})).all()
    assert audit[-1].action == "erased" and audit[-1].actor == "key-vendor"
    assert set(audit[-1].fields) == {"name", "email", "phone", "job_title", "roles",
                                     "signer_name"}
    assert "1 signature" in audit[-1].detail
    exported = (await client.get(url(partner, contact["id"], "export"), headers=vendor)).text
    assert "Priya" not in exported and "northwind" not in exported.lower()
    # an erased contact cannot earn or sign any more
    refused = await client.post(f"/v1/partners/{partner}/certifications", json={
        "code": "GDPR-T1", "contact_id": contact["id"], "earned_on": "2026-01-15"},
        headers=vendor)
    assert refused.status_code == 422


async def test_delete_only_what_nothing_refers_to(client, vendor):
    partner = await new_partner(client, vendor)
    referred = await add(client, vendor, partner)
    await _certify_and_sign(client, vendor, partner, referred["id"])
    loner = await add(client, vendor, partner, name="Tom", email="tom@northwind.example")
    refused = await client.delete(url(partner, referred["id"]), headers=vendor)
    assert refused.status_code == 409 and "erase" in refused.json()["detail"]
    deleted = await client.delete(url(partner, loner["id"]), headers=vendor)
    assert deleted.status_code == 204
    assert (await client.get(url(partner, loner["id"]), headers=vendor)).status_code == 404
    trail = (await client.connection.execute(text(
        "SELECT action FROM contact_audit WHERE contact_id = :id ORDER BY at, id"),
        {"id": loner["id"]})).scalars().all()
    assert trail == ["created", "deleted"]


async def test_contact_count(client, vendor, app):
    partner = await new_partner(client, vendor)
    first = await add(client, vendor, partner)
    await add(client, vendor, partner, name="Tom", email="tom@northwind.example")
    async with app.state.sessionmaker() as session:
        assert await contact_count(session, partner) == 2
    await client.post(url(partner, first["id"], "erase"), headers=vendor)
    async with app.state.sessionmaker() as session:
        assert await contact_count(session, partner) == 1


async def test_erasure_reaches_the_answers_kept_for_retries(client, vendor):
    """A retry of the contact's creation within the Idempotency-Key's 24 hours replays the
    erased record, and no stored answer keeps the personal data."""
    partner = await new_partner(client, vendor)
    create = {**PRIYA, "name": "Ingrid Solberg", "email": "ingrid@fjord.example",
              "phone": "+47 22 33 44 55", "job_title": "Partner Lead"}
    created = await client.post(url(partner), json=create,
                                headers={**vendor, "Idempotency-Key": "create-ingrid"})
    assert created.status_code == 201, created.text
    contact = created.json()
    changed = await client.patch(url(partner, contact["id"]), json={
        "name": "Ingrid Solberg-Haug", "phone": "+47 22 33 44 66", "job_title": "Alliances"},
        headers={**vendor, "Idempotency-Key": "update-ingrid"})
    assert changed.status_code == 200, changed.text
    agreement = (await client.post("/v1/agreements", json={
        "code": "fjord-terms", "title": "Fjord terms"}, headers=vendor)).json()
    assert (await client.post(f"/v1/agreements/{agreement['id']}/versions", json={
        "effective_on": "2025-01-01"}, headers=vendor)).status_code == 201
    signing = {"agreement": "fjord-terms", "signer_contact_id": contact["id"]}
    signed = await client.post(f"/v1/partners/{partner}/agreements", json=signing,
                               headers={**vendor, "Idempotency-Key": "sign-fjord"})
    assert signed.status_code == 201 and signed.json()["signer_name"] == "Ingrid Solberg-Haug"

    personal = [b"Ingrid", b"Solberg", b"ingrid@fjord.example", b"+47 22 33 44",
                b"Partner Lead", b"Alliances"]

    async def stored_with_personal_data() -> list[str]:
        rows = (await client.connection.execute(text(
            "SELECT key, body FROM idempotency_keys WHERE body IS NOT NULL"))).all()
        return sorted(row.key for row in rows if any(p in row.body for p in personal))

    assert await stored_with_personal_data() == ["create-ingrid", "sign-fjord"]
    erased = await client.post(url(partner, contact["id"], "erase"),
                               headers={**vendor, "Idempotency-Key": "erase-ingrid"})
    assert erased.status_code == 200, erased.text
    assert await stored_with_personal_data() == []

    replayed = await client.post(url(partner), json=create,
                                 headers={**vendor, "Idempotency-Key": "create-ingrid"})
    assert replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == erased.json()
    assert replayed.headers["etag"] == erased.headers["etag"] == f'"{erased.json()["version"]}"'
    assert replayed.headers["location"] == url(partner, contact["id"])
    again = await client.post(f"/v1/partners/{partner}/agreements", json=signing,
                              headers={**vendor, "Idempotency-Key": "sign-fjord"})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**signed.json(), "signer_name": None}


async def test_each_change_announces_the_contact_and_erasure_announces_no_one(client, vendor):
    """The read models that find people (the portal's search) hear of each change, and of an
    erasure as a contact naming no one."""
    partner = await new_partner(client, vendor)
    contact = await add(client, vendor, partner)
    patched = await client.patch(url(partner, contact["id"]), json={"job_title": "CTO"},
                                 headers={**vendor, "If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    erased = await client.post(url(partner, contact["id"], "erase"), headers=vendor)
    assert erased.status_code == 200, erased.text
    said = [e["data"] for (e,) in await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE event_type = 'prm.partner.contact_changed.v1' "
        "AND envelope->'data'->>'contact_id' = :id ORDER BY seq"), {"id": contact["id"]})]
    assert [(d["version"], d["job_title"], d["removed"]) for d in said] == [
        (1, contact["job_title"], False), (2, "CTO", False), (3, None, True)]
    assert said[-1]["name"] is None and said[-1]["email"] is None
