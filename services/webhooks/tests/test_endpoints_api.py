import base64
import uuid

from sqlalchemy import text

URL = "https://crm.partner.example/hooks/prm"


async def test_create_shows_the_secret_once(client, vendor, create_endpoint):
    created = await create_endpoint(client, vendor, URL, event_types=["deal.*", "prm.partner.*"],
                                    headers={"X-Api-Token": "t-1"}, rate_limit=5)
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    assert created["event_types"] == ["prm.deal.*", "prm.partner.*"]
    assert created["partner_id"] is None and created["enabled"] is True
    read = await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=vendor)
    assert read.status_code == 200 and read.headers["ETag"] == '"1"'
    assert "secret" not in read.json()
    listed = (await client.get("/v1/webhook-endpoints", headers=vendor)).json()
    assert created["id"] in {e["id"] for e in listed["items"]}
    assert all("secret" not in e for e in listed["items"])


async def test_partner_endpoint_belongs_to_its_org(client, as_partner, create_endpoint):
    partner = uuid.uuid4()
    created = await create_endpoint(client, as_partner(partner), URL)
    assert created["partner_id"] == str(partner)
    posing = await client.post("/v1/webhook-endpoints", headers=as_partner(partner),
                               json={"url": URL, "partner_id": str(uuid.uuid4())})
    assert posing.status_code == 422  # no owner field to set: it is the key's org


async def test_if_match_guards_changes(client, vendor, create_endpoint):
    created = await create_endpoint(client, vendor, URL)
    url = f"/v1/webhook-endpoints/{created['id']}"
    stale = await client.patch(url, headers={**vendor, "If-Match": '"7"'},
                               json={"description": "x"})
    assert stale.status_code == 412 and stale.json()["type"] == "/problems/precondition-failed"
    changed = await client.patch(url, headers={**vendor, "If-Match": '"1"'},
                                 json={"description": "CRM", "enabled": False})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    assert changed.json()["enabled"] is False
    gone = await client.delete(url, headers={**vendor, "If-Match": '"1"'})
    assert gone.status_code == 412
    assert (await client.delete(url, headers={**vendor, "If-Match": '"2"'})).status_code == 204
    assert (await client.get(url, headers=vendor)).status_code == 404


async def test_internal_headers_are_refused(client, vendor, create_endpoint):
    for name in ("webhook-signature", "X-PRM-Principal", "Host", "traceparent",
                 "Content-Type"):
        response = await client.post("/v1/webhook-endpoints", headers=vendor,
                                     json={"url": URL, "headers": {name: "v"}})
        assert response.status_code == 422, name
        assert response.json()["type"] == "/problems/validation-error"
    too_many = {f"X-H{i}": "v" for i in range(11)}
    response = await client.post("/v1/webhook-endpoints", headers=vendor,
                                 json={"url": URL, "headers": too_many})
    assert response.status_code == 422


async def test_rotation_keeps_the_old_secret_for_the_overlap(client, vendor,
                                                             create_endpoint):
    created = await create_endpoint(client, vendor, URL)
    url = f"/v1/webhook-endpoints/{created['id']}/rotate-secret"
    rotated = await client.post(url, headers={**vendor, "If-Match": '"1"'},
                                json={"overlap_hours": 2})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != created["secret"]
    rows = (await client.connection.execute(text(
        "SELECT secret, expires_at FROM webhook_endpoint_secrets WHERE endpoint_id = :id "
        "ORDER BY created_at"), {"id": created["id"]})).all()
    assert [r.secret for r in rows] == [created["secret"], rotated.json()["secret"]]
    assert rows[0].expires_at is not None and rows[1].expires_at is None


async def test_lists_are_paginated(client, vendor, create_endpoint):
    ids = [(await create_endpoint(client, vendor, URL))["id"] for _ in range(3)]
    first = (await client.get("/v1/webhook-endpoints?limit=2", headers=vendor)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (await client.get(f"/v1/webhook-endpoints?limit=2&cursor={first['next_cursor']}",
                             headers=vendor)).json()
    assert [e["id"] for e in first["items"] + rest["items"]][-3:] == ids


async def test_scopes_are_required(client, as_partner):
    headers = as_partner(uuid.uuid4(), ("webhooks:read",))
    response = await client.post("/v1/webhook-endpoints", headers=headers, json={"url": URL})
    assert response.status_code == 403 and response.json()["type"] == "/problems/forbidden"
