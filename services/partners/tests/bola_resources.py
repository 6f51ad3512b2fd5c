"""Authorisation cases of the enablement resource library (gathered by test_authorisation.py):
the vendor builds it; a partner caller reads the published resources its audience admits (a
draft is a 404), a download link works for the org it was made for alone, and an org's uses
are its own."""

from sqlalchemy import text

RESOURCE = {"kind": "link", "default_language": "en", "variants": [
    {"language": "en", "title": "Partner playbook", "url": "https://cdn.vendor.example/pb"}]}


async def _resource(client, vendor, publish=True):
    created = await client.post("/v1/enablement-resources", json=RESOURCE, headers=vendor)
    assert created.status_code == 201, created.text
    row = created.json()
    if publish:
        row = (await client.post(f"/v1/enablement-resources/{row['id']}/publish",
                                 headers={**vendor, "If-Match": f'"{row["version"]}"'})).json()
    return row


async def _count(client) -> int:
    return (await client.connection.execute(text(
        "SELECT count(*) FROM enablement_resources"))).scalar_one()


async def create_resource(client, a, b, vendor):
    before = await _count(client)
    refused = await client.post("/v1/enablement-resources", json=RESOURCE, headers=b[1])
    assert refused.status_code == 403
    assert await _count(client) == before


async def list_resources(client, a, b, vendor):
    draft = await _resource(client, vendor, publish=False)
    seen = (await client.get("/v1/enablement-resources?limit=200", headers=b[1])).json()
    assert draft["id"] not in {r["id"] for r in seen["items"]}


async def get_resource(client, a, b, vendor):
    draft = await _resource(client, vendor, publish=False)
    assert (await client.get(f"/v1/enablement-resources/{draft['id']}",
                             headers=b[1])).status_code == 404


def _refused_change(path_of, method="post", body=None):
    async def case(client, a, b, vendor):
        row = await _resource(client, vendor)
        call = getattr(client, method)
        kwargs = {"json": body} if body is not None else {}
        refused = await call(path_of(row), headers={**b[1], "If-Match": f'"{row["version"]}"'},
                             **kwargs)
        assert refused.status_code == 403
        after = (await client.get(f"/v1/enablement-resources/{row['id']}",
                                  headers=vendor)).json()
        assert after["version"] == row["version"]
    return case


async def upload_file(client, a, b, vendor):
    row = await _resource(client, vendor, publish=False)
    refused = await client.post(f"/v1/enablement-resources/{row['id']}/files?filename=a.txt",
                                content=b"hello", headers=b[1])
    assert refused.status_code == 403
    assert (await client.connection.execute(text(
        "SELECT count(*) FROM enablement_files WHERE resource_id = :id"),
        {"id": row["id"]})).scalar_one() == 0


async def get_link(client, a, b, vendor):
    draft = await _resource(client, vendor, publish=False)
    assert (await client.get(f"/v1/enablement-resources/{draft['id']}/links",
                             headers=b[1])).status_code == 404


async def download(client, a, b, vendor):
    row = await _resource(client, vendor)
    link = (await client.get(f"/v1/enablement-resources/{row['id']}/links",
                             headers=a[1])).json()
    refused = await client.get(link["url"], headers=b[1])
    assert refused.status_code == 404


async def list_uses(client, a, b, vendor):
    row = await _resource(client, vendor)
    assert (await client.get(f"/v1/enablement-resources/{row['id']}",
                             headers=a[1])).status_code == 200
    seen = (await client.get(f"/v1/enablement-resource-uses?resource_id={row['id']}",
                             headers=b[1])).json()["items"]
    assert seen == []
    mine = (await client.get(f"/v1/enablement-resource-uses?partner_id={a[0]['id']}",
                             headers=b[1])).json()["items"]
    assert mine == []


async def get_kpis(client, a, b, vendor):
    row = await _resource(client, vendor)
    assert (await client.get(f"/v1/enablement-resources/{row['id']}",
                             headers=a[1])).status_code == 200
    hidden = await client.get(f"/v1/enablement-kpis?partner_id={a[0]['id']}", headers=b[1])
    assert hidden.status_code == 404
    own = (await client.get(f"/v1/enablement-kpis?resource_id={row['id']}",
                            headers=b[1])).json()
    assert own["partner_id"] == b[0]["id"]
    assert own["resources"][0]["uses"] == 0 and own["partners"] == []
    assert own["total"]["uses"] == 0


CASES = {
    ("POST", "/v1/enablement-resources"): create_resource,
    ("GET", "/v1/enablement-resources"): list_resources,
    ("GET", "/v1/enablement-resources/{resource_id}"): get_resource,
    ("PATCH", "/v1/enablement-resources/{resource_id}"): _refused_change(
        lambda r: f"/v1/enablement-resources/{r['id']}", "patch", {"default_language": "en"}),
    ("POST", "/v1/enablement-resources/{resource_id}/publish"): _refused_change(
        lambda r: f"/v1/enablement-resources/{r['id']}/publish"),
    ("POST", "/v1/enablement-resources/{resource_id}/retire"): _refused_change(
        lambda r: f"/v1/enablement-resources/{r['id']}/retire"),
    ("POST", "/v1/enablement-resources/{resource_id}/files"): upload_file,
    ("GET", "/v1/enablement-resources/{resource_id}/links"): get_link,
    ("GET", "/v1/enablement-downloads/{token}"): download,
    ("GET", "/v1/enablement-resource-uses"): list_uses,
    ("GET", "/v1/enablement-kpis"): get_kpis,
}
