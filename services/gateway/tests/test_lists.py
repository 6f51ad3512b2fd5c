"""The gateway's one list speaks the grammar, and each of its filters, ranges, sorts, searches
and change feeds is served by an index; the key list filtered, searched and fed by changes."""

from prm_stack.testing import check_lists_use_indexes, list_routes


async def test_every_filter_sort_and_search_is_served_by_an_index(gateway, engines):
    app = gateway.app
    assert set(list_routes(app)) == {"/v1/api-keys"}
    checked = await check_lists_use_indexes(app, engines["gateway"])
    assert {"partner_id", "kind", "q", "updated_since", "sort=name"} <= set(
        checked["/v1/api-keys"])


async def test_keys_filtered_searched_and_fed_by_changes(gateway, admin):
    made = []
    for name in ("Zürich CRM sync", "zurich ERP", "Lyon portal"):
        created = await gateway.post("/v1/api-keys", headers=admin, json={
            "name": name, "kind": "vendor", "scopes": ["deals:read"]})
        assert created.status_code == 201, created.text
        made.append(created.json())
    found = await gateway.get("/v1/api-keys", headers=admin, params={
        "q": "ZURICH", "kind": "vendor", "sort": "-name"})
    assert found.status_code == 200, found.text
    assert [k["name"] for k in found.json()["items"]] == ["zurich ERP", "Zürich CRM sync"]
    since = made[2]["created_at"]
    revoked = await gateway.post(f"/v1/api-keys/{made[0]['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    feed = await gateway.get("/v1/api-keys", headers=admin, params={
        "updated_since": since.replace("+00:00", "Z")})
    # Oldest change first: the last key issued, then the revocation of the first.
    assert [k["id"] for k in feed.json()["items"]] == [made[2]["id"], made[0]["id"]]
