"""BOLA cases of the compliance part (collected by test_authorisation.py): the programme's
set-up is shared reading but the vendor's to change; a partner's certifications, signatures
and compliance are out of another org's reach."""

from sqlalchemy import text


async def outbox_count(client, partner_id) -> int:
    return (await client.connection.execute(
        text("SELECT count(*) FROM outbox WHERE key = :k"), {"k": partner_id})).scalar_one()


async def _type(client, vendor):
    response = await client.post("/v1/certification-types", json={
        "code": "BOLA-1", "name": "Bola", "validity_months": 12, "required": True},
        headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def _agreement(client, vendor):
    created = (await client.post("/v1/agreements", json={
        "code": "bola-agreement", "title": "Bola", "required": True}, headers=vendor)).json()
    versioned = await client.post(f"/v1/agreements/{created['id']}/versions",
                                  json={"effective_on": "2024-01-01"}, headers=vendor)
    assert versioned.status_code == 201, versioned.text
    return versioned.json()


async def _certification(client, a, vendor):
    await _type(client, vendor)
    response = await client.post(f"/v1/partners/{a[0]['id']}/certifications", json={
        "code": "BOLA-1", "earned_on": "2026-01-02"}, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def _signature(client, a, vendor):
    await _agreement(client, vendor)
    response = await client.post(f"/v1/partners/{a[0]['id']}/agreements", json={
        "agreement": "bola-agreement", "signer_name": "A's CEO"}, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


# The programme's set-up: partner keys read it, only the vendor changes it.


async def list_certification_types(client, a, b, vendor):
    kind = await _type(client, vendor)
    seen = await client.get("/v1/certification-types", headers=b[1])
    assert seen.status_code == 200 and kind["id"] in {t["id"] for t in seen.json()["items"]}


async def create_certification_type(client, a, b, vendor):
    refused = await client.post("/v1/certification-types", json={"code": "B-1", "name": "B"},
                                headers=b[1])
    assert refused.status_code == 403
    assert (await client.get("/v1/certification-types", headers=vendor)).json()["items"] == []


async def get_certification_type(client, a, b, vendor):
    kind = await _type(client, vendor)
    assert (await client.get(f"/v1/certification-types/{kind['id']}", headers=b[1])
            ).status_code == 200


async def update_certification_type(client, a, b, vendor):
    kind = await _type(client, vendor)
    refused = await client.patch(f"/v1/certification-types/{kind['id']}",
                                 json={"required": False}, headers=b[1])
    assert refused.status_code == 403
    assert (await client.get(f"/v1/certification-types/{kind['id']}", headers=vendor)
            ).json()["required"] is True


async def delete_certification_type(client, a, b, vendor):
    kind = await _type(client, vendor)
    assert (await client.delete(f"/v1/certification-types/{kind['id']}", headers=b[1])
            ).status_code == 403
    assert (await client.get(f"/v1/certification-types/{kind['id']}", headers=vendor)
            ).status_code == 200


async def list_agreements(client, a, b, vendor):
    agreement = await _agreement(client, vendor)
    seen = await client.get("/v1/agreements", headers=b[1])
    assert seen.status_code == 200 and [x["id"] for x in seen.json()["items"]] == \
        [agreement["id"]]


async def create_agreement(client, a, b, vendor):
    refused = await client.post("/v1/agreements", json={"code": "b-terms", "title": "B"},
                                headers=b[1])
    assert refused.status_code == 403
    assert (await client.get("/v1/agreements", headers=vendor)).json()["items"] == []


async def get_agreement(client, a, b, vendor):
    agreement = await _agreement(client, vendor)
    assert (await client.get(f"/v1/agreements/{agreement['id']}", headers=b[1])
            ).status_code == 200


async def update_agreement(client, a, b, vendor):
    agreement = await _agreement(client, vendor)
    refused = await client.patch(f"/v1/agreements/{agreement['id']}", json={"required": False},
                                 headers=b[1])
    assert refused.status_code == 403
    assert (await client.get(f"/v1/agreements/{agreement['id']}", headers=vendor)
            ).json()["version"] == agreement["version"]


async def add_agreement_version(client, a, b, vendor):
    agreement = await _agreement(client, vendor)
    refused = await client.post(f"/v1/agreements/{agreement['id']}/versions",
                                json={"effective_on": "2030-01-01"}, headers=b[1])
    assert refused.status_code == 403
    got = (await client.get(f"/v1/agreements/{agreement['id']}", headers=vendor)).json()
    assert len(got["versions"]) == 1


# A partner's records.


async def record_certification(client, a, b, vendor):
    await _type(client, vendor)
    before = await outbox_count(client, a[0]["id"])
    body = {"code": "BOLA-1", "earned_on": "2026-01-02"}
    other = await client.post(f"/v1/partners/{a[0]['id']}/certifications", json=body,
                              headers=b[1])
    assert other.status_code == 404
    own = await client.post(f"/v1/partners/{b[0]['id']}/certifications", json=body,
                            headers=b[1])
    assert own.status_code == 403  # recording is the vendor's
    assert await outbox_count(client, a[0]["id"]) == before
    assert (await client.connection.execute(text("SELECT count(*) FROM certifications"))
            ).scalar_one() == 0


async def list_certifications(client, a, b, vendor):
    await _certification(client, a, vendor)
    assert (await client.get(f"/v1/partners/{a[0]['id']}/certifications", headers=b[1])
            ).status_code == 404
    own = await client.get(f"/v1/partners/{b[0]['id']}/certifications", headers=b[1])
    assert own.status_code == 200 and own.json()["items"] == []


async def get_certification(client, a, b, vendor):
    certification = await _certification(client, a, vendor)
    for partner in (a, b):
        hidden = await client.get(
            f"/v1/partners/{partner[0]['id']}/certifications/{certification['id']}",
            headers=b[1])
        assert hidden.status_code == 404
    assert (await client.get(
        f"/v1/partners/{a[0]['id']}/certifications/{certification['id']}", headers=a[1])
            ).status_code == 200


async def revoke_certification(client, a, b, vendor):
    certification = await _certification(client, a, vendor)
    before = await outbox_count(client, a[0]["id"])
    hidden = await client.post(
        f"/v1/partners/{a[0]['id']}/certifications/{certification['id']}/revoke",
        headers=b[1])
    assert hidden.status_code == 404
    # under its own org, revoking is the vendor's whatever the id: nothing to probe
    for certification_id in (certification["id"], "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"):
        own = await client.post(
            f"/v1/partners/{b[0]['id']}/certifications/{certification_id}/revoke",
            headers=b[1])
        assert own.status_code == 403
    assert await outbox_count(client, a[0]["id"]) == before
    still = await client.get(
        f"/v1/partners/{a[0]['id']}/certifications/{certification['id']}", headers=vendor)
    assert still.json()["status"] == "active"


async def sign_agreement(client, a, b, vendor):
    await _agreement(client, vendor)
    before = await outbox_count(client, a[0]["id"])
    body = {"agreement": "bola-agreement", "signer_name": "B's CEO"}
    assert (await client.post(f"/v1/partners/{a[0]['id']}/agreements", json=body,
                              headers=b[1])).status_code == 404
    assert (await client.post(f"/v1/partners/{b[0]['id']}/agreements", json=body,
                              headers=b[1])).status_code == 403
    assert await outbox_count(client, a[0]["id"]) == before
    assert (await client.connection.execute(text("SELECT count(*) FROM agreement_signatures"))
            ).scalar_one() == 0


async def list_signatures(client, a, b, vendor):
    await _signature(client, a, vendor)
    assert (await client.get(f"/v1/partners/{a[0]['id']}/agreements", headers=b[1])
            ).status_code == 404
    own = await client.get(f"/v1/partners/{b[0]['id']}/agreements", headers=b[1])
    assert own.status_code == 200 and own.json()["items"] == []


async def get_signature(client, a, b, vendor):
    signature = await _signature(client, a, vendor)
    for partner in (a, b):
        hidden = await client.get(
            f"/v1/partners/{partner[0]['id']}/agreements/{signature['id']}", headers=b[1])
        assert hidden.status_code == 404
    assert (await client.get(f"/v1/partners/{a[0]['id']}/agreements/{signature['id']}",
                             headers=a[1])).status_code == 200


async def check_compliance(client, a, b, vendor):
    await _signature(client, a, vendor)
    assert (await client.get(f"/v1/partners/{a[0]['id']}/compliance", headers=b[1])
            ).status_code == 404
    own = await client.get(f"/v1/partners/{b[0]['id']}/compliance", headers=b[1])
    assert own.status_code == 200 and own.json()["compliant"] is False


PARTNER = "/v1/partners/{partner_id}"
CASES = {
    ("GET", "/v1/certification-types"): list_certification_types,
    ("POST", "/v1/certification-types"): create_certification_type,
    ("GET", "/v1/certification-types/{type_id}"): get_certification_type,
    ("PATCH", "/v1/certification-types/{type_id}"): update_certification_type,
    ("DELETE", "/v1/certification-types/{type_id}"): delete_certification_type,
    ("GET", "/v1/agreements"): list_agreements,
    ("POST", "/v1/agreements"): create_agreement,
    ("GET", "/v1/agreements/{agreement_id}"): get_agreement,
    ("PATCH", "/v1/agreements/{agreement_id}"): update_agreement,
    ("POST", "/v1/agreements/{agreement_id}/versions"): add_agreement_version,
    ("POST", f"{PARTNER}/certifications"): record_certification,
    ("GET", f"{PARTNER}/certifications"): list_certifications,
    ("GET", f"{PARTNER}/certifications/{{certification_id}}"): get_certification,
    ("POST", f"{PARTNER}/certifications/{{certification_id}}/revoke"): revoke_certification,
    ("POST", f"{PARTNER}/agreements"): sign_agreement,
    ("GET", f"{PARTNER}/agreements"): list_signatures,
    ("GET", f"{PARTNER}/agreements/{{signature_id}}"): get_signature,
    ("GET", f"{PARTNER}/compliance"): check_compliance,
}
