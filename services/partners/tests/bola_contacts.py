"""BOLA cases of the contacts part (collected by test_authorisation.py): org B's key reaches
none of org A's contacts, however it names them, and manages its own."""

from sqlalchemy import text

PERSON = {"name": "Priya Raman", "email": "priya@a.example", "roles": ["admin"]}


def url(org, *rest):
    return "/".join([f"/v1/partners/{org[0]['id']}/contacts", *map(str, rest)])


async def _contact_of_a(client, a):
    response = await client.post(url(a), json=PERSON, headers=a[1])
    assert response.status_code == 201, response.text
    return response.json()


async def _audit_count(client, contact_id) -> int:
    return (await client.connection.execute(text(
        "SELECT count(*) FROM contact_audit WHERE contact_id = :id"), {"id": contact_id})
    ).scalar_one()


async def _unchanged(client, a, contact):
    got = await client.get(url(a, contact["id"]), headers=a[1])
    assert got.status_code == 200 and got.json() == contact


async def create_contact(client, a, b, vendor):
    hidden = await client.post(url(a), json=PERSON, headers=b[1])
    assert hidden.status_code == 404
    assert (await client.connection.execute(text(
        "SELECT count(*) FROM contacts WHERE partner_id = :p"), {"p": a[0]["id"]})
    ).scalar_one() == 0
    own = await client.post(url(b), json=PERSON, headers=b[1])
    assert own.status_code == 201 and own.json()["partner_id"] == b[0]["id"]


async def list_contacts(client, a, b, vendor):
    await _contact_of_a(client, a)
    assert (await client.get(url(a), headers=b[1])).status_code == 404
    assert (await client.get(url(a) + "?include_erased=true", headers=b[1])).status_code == 404
    own = await client.get(url(b), headers=b[1])
    assert own.status_code == 200 and own.json()["items"] == []


async def get_contact(client, a, b, vendor):
    contact = await _contact_of_a(client, a)
    for org in (a, b):  # A's contact under A's path or smuggled under B's
        assert (await client.get(url(org, contact["id"]), headers=b[1])).status_code == 404


async def update_contact(client, a, b, vendor):
    contact = await _contact_of_a(client, a)
    for org in (a, b):
        hidden = await client.patch(url(org, contact["id"]), json={"name": "Taken"},
                                    headers=b[1])
        assert hidden.status_code == 404
    await _unchanged(client, a, contact)


async def delete_contact(client, a, b, vendor):
    contact = await _contact_of_a(client, a)
    for org in (a, b):
        assert (await client.delete(url(org, contact["id"]), headers=b[1])).status_code == 404
    await _unchanged(client, a, contact)


async def export_contact(client, a, b, vendor):
    contact = await _contact_of_a(client, a)
    before = await _audit_count(client, contact["id"])
    for org in (a, b):
        hidden = await client.get(url(org, contact["id"], "export"), headers=b[1])
        assert hidden.status_code == 404
        assert "priya" not in hidden.text.lower()
    assert await _audit_count(client, contact["id"]) == before


async def erase_contact(client, a, b, vendor):
    contact = await _contact_of_a(client, a)
    before = await _audit_count(client, contact["id"])
    for org in (a, b):
        hidden = await client.post(url(org, contact["id"], "erase"), headers=b[1])
        assert hidden.status_code == 404
    await _unchanged(client, a, contact)
    assert await _audit_count(client, contact["id"]) == before
    mine = (await client.post(url(b), json=PERSON, headers=b[1])).json()
    assert (await client.post(url(b, mine["id"], "erase"), headers=b[1])).status_code == 200


CONTACT = "/v1/partners/{partner_id}/contacts/{contact_id}"
CASES = {
    ("POST", "/v1/partners/{partner_id}/contacts"): create_contact,
    ("GET", "/v1/partners/{partner_id}/contacts"): list_contacts,
    ("GET", CONTACT): get_contact,
    ("PATCH", CONTACT): update_contact,
    ("DELETE", CONTACT): delete_contact,
    ("GET", f"{CONTACT}/export"): export_contact,
    ("POST", f"{CONTACT}/erase"): erase_contact,
}
