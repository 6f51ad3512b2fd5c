"""A read changes nothing: every GET runs in a READ ONLY transaction, so a GET that wrote would
fail. The reads that used to write answer for real here (committed, not rolled back): the
onboarding plan whose contacts are there, and a contact's export, whose audit entry is written
beforehand in a transaction of its own."""

import uuid

import pytest
from sqlalchemy import text

from prm_events.envelope import CloudEvent
from prm_partners.config import Settings
from prm_partners.declaration import SERVICE
from prm_partners.main import create_app
from prm_partners.onboarding import service as onboarding
from prm_partners.onboarding.handlers import HANDLERS as ONBOARDING
from prm_stack.testing import committing_client, vendor_headers

ALL_SCOPES = tuple(scope.name for scope in SERVICE.scopes)


@pytest.fixture
async def world(prm_infra, app):
    fresh = create_app(Settings())
    async with committing_client(fresh) as client:
        yield fresh, client, vendor_headers(prm_infra.internal_secret, ALL_SCOPES)


async def test_reads_that_used_to_write_answer_read_only(world, monkeypatch):
    app, client, vendor = world
    word = uuid.uuid4().hex[:10]
    template = (await client.post("/v1/onboarding-templates", headers=vendor, json={
        "name": f"Reads {word}", "partner_types": ["isv"], "activates_partner": False,
        "tasks": [{"key": "contacts", "title": "Add a contact", "kind": "contacts_added",
                   "params": {"contacts": 1}}]})).json()
    try:
        partner = (await client.post("/v1/partners", headers=vendor, json={
            "name": f"Reads {word} ehf", "type": "isv", "country": "IS"})).json()
        async with app.state.engine.connect() as connection:
            envelope = (await connection.execute(text(
                "SELECT envelope FROM outbox WHERE key = :key"), {"key": partner["id"]})
            ).scalar_one()
        created = CloudEvent.model_validate(envelope)
        async with app.state.sessionmaker() as session:
            await ONBOARDING[created.type](session, created)
            await session.commit()
    finally:  # a template left behind would give other tests' partners its plan
        await client.delete(f"/v1/onboarding-templates/{template['id']}", headers=vendor)

    async def one_contact(session, partner_id):
        return 1

    # The contacts counted are there, which a read once acted on.
    monkeypatch.setattr(onboarding, "_contact_count", one_contact)
    url = f"/v1/partners/{partner['id']}"
    read = await client.get(f"{url}/onboarding", headers=vendor)
    assert read.status_code == 200, read.text
    assert read.json()["status"] == "open" and read.json()["version"] == 1

    contact = await client.post(f"{url}/contacts", headers=vendor, json={
        "name": f"Reads {word}", "email": f"reads.{word}@reads.example"})
    assert contact.status_code == 201, contact.text
    assert (await client.get(f"{url}/onboarding", headers=vendor)).json()["status"] == \
        "completed"
    exported = await client.get(f"{url}/contacts/{contact.json()['id']}/export",
                                headers=vendor)
    assert exported.status_code == 200, exported.text
    assert [e["action"] for e in exported.json()["audit"]] == ["created", "exported"]
