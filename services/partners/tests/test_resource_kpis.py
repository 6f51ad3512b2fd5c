"""The resource library's KPIs (`GET /v1/enablement-kpis`): values computed by hand from uses,
publication and activation times set to known instants."""

import datetime as dt
import random

from sqlalchemy import text

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


async def _resource(client, vendor, tier, title):
    created = await client.post("/v1/enablement-resources", json={
        "kind": "link", "default_language": "en", "audience": {"tiers": [tier]},
        "variants": [{"language": "en", "title": title,
                      "url": "https://cdn.vendor.example/" + title.lower().replace(" ", "-")}]},
        headers=vendor)
    assert created.status_code == 201, created.text
    row = created.json()
    published = await client.post(f"/v1/enablement-resources/{row['id']}/publish",
                                  headers={**vendor, "If-Match": f'"{row["version"]}"'})
    assert published.status_code == 200, published.text
    await client.connection.execute(text(
        "UPDATE enablement_resource_versions SET published_at = :t WHERE resource_id = :id"),
        {"t": T0, "id": row["id"]})
    return published.json()


async def _partner(client, vendor, name, tier, activated_at):
    created = (await client.post("/v1/partners", json={
        "name": name, "type": "reseller", "country": "GB"}, headers=vendor)).json()
    created = (await client.post(f"/v1/partners/{created['id']}/activate",
                                 headers=vendor)).json()
    await client.connection.execute(text(
        "UPDATE partners SET tier = :tier, activated_at = :at WHERE id = :id"),
        {"tier": tier, "at": activated_at, "id": created["id"]})
    return created


async def _use_times(client, partner_id, *times):
    """Moves the partner's uses, oldest first, to the times given."""
    ids = (await client.connection.execute(text(
        "SELECT id FROM enablement_resource_uses WHERE partner_id = :p ORDER BY id"),
        {"p": partner_id})).scalars().all()
    assert len(ids) == len(times)
    for use_id, at in zip(ids, times, strict=True):
        await client.connection.execute(text(
            "UPDATE enablement_resource_uses SET used_at = :t WHERE id = :id"),
            {"t": at, "id": use_id})


async def test_resource_kpis_per_resource_partner_and_total(client, vendor, as_partner):
    tier = f"kpi-{random.randrange(10**9)}"
    used = await _resource(client, vendor, tier, "Playbook")
    unused = await _resource(client, vendor, tier, "Pricing")
    retired = await _resource(client, vendor, tier, "Old deck")
    assert (await client.post(f"/v1/enablement-resources/{retired['id']}/retire", headers={
        **vendor, "If-Match": f'"{retired["version"]}"'})).status_code == 200
    a = await _partner(client, vendor, "Kpi A", tier, T0 - dt.timedelta(seconds=1000))
    b = await _partner(client, vendor, "Kpi B", tier, T0 + dt.timedelta(seconds=60))
    await _partner(client, vendor, "Kpi C", tier, T0)  # eligible, never uses anything
    await _partner(client, vendor, "Kpi D", None, T0)  # not in the audience

    # A: two views and a download (one key); B: one view.
    for _ in range(2):
        assert (await client.get(f"/v1/enablement-resources/{used['id']}",
                                 headers=as_partner(a["id"]))).status_code == 200
    link = (await client.get(f"/v1/enablement-resources/{used['id']}/links",
                             headers=as_partner(a["id"]))).json()
    assert (await client.get(link["url"], headers=as_partner(a["id"]))).status_code == 307
    assert (await client.get(f"/v1/enablement-resources/{used['id']}",
                             headers=as_partner(b["id"]))).status_code == 200
    second = dt.timedelta(seconds=1)
    await _use_times(client, a["id"], T0 + 100 * second, T0 + 200 * second,
                     T0 + dt.timedelta(seconds=300, microseconds=500_000))
    await _use_times(client, b["id"], T0 + dt.timedelta(seconds=50, microseconds=900_000))

    answer = await client.get("/v1/enablement-kpis", headers=vendor)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["partner_id"] is None
    by_id = {r["resource_id"]: r for r in report["resources"]}
    first_published = T0.isoformat().replace("+00:00", "Z")
    # uses 3 + 1; people: A's key and B's key; eligible: A, B, C (D has no tier); adopting:
    # A, B -> 2 / 3 = 0.6667; first use: B's at T0 + 50.9 s, truncated: 50 s after T0.
    assert by_id[used["id"]] == {
        "resource_id": used["id"], "title": "Playbook", "status": "published",
        "first_published_at": first_published, "uses": 4, "views": 3, "downloads": 1,
        "people": 2, "partners": 2, "eligible_partners": 3, "adopting_partners": 2,
        "adoption": "0.6667", "seconds_to_first_use": 50}
    assert by_id[unused["id"]] | {"first_published_at": None} == {
        "resource_id": unused["id"], "title": "Pricing", "status": "published",
        "first_published_at": None, "uses": 0, "views": 0, "downloads": 0, "people": 0,
        "partners": 0, "eligible_partners": 3, "adopting_partners": 0, "adoption": "0.0000",
        "seconds_to_first_use": None}
    # retired: no partner is eligible any more, adoption undefined
    assert (by_id[retired["id"]]["eligible_partners"], by_id[retired["id"]]["adoption"]) == (
        0, None)
    partners = {p["partner_id"]: p for p in report["partners"]}
    # A: first use T0 + 100 s, activated T0 − 1000 s -> 1100; B: T0 + 50 s − (T0 + 60 s) -> −10
    assert partners[a["id"]] == {
        "partner_id": a["id"], "partner_name": "Kpi A", "resources_used": 1, "uses": 3,
        "first_used_at": (T0 + 100 * second).isoformat().replace("+00:00", "Z"),
        "seconds_to_first_use": 1100}
    assert partners[b["id"]]["seconds_to_first_use"] == -10
    assert partners[b["id"]]["uses"] == 1

    one = (await client.get(f"/v1/enablement-kpis?resource_id={used['id']}",
                            headers=vendor)).json()
    assert one["total"] == {"resources": 1, "resources_used": 1, "uses": 4, "views": 3,
                            "downloads": 1, "people": 2, "partners": 2}

    # One partner: A's own uses and only A in the denominator (1 of 1).
    mine = await client.get(f"/v1/enablement-kpis?resource_id={used['id']}",
                            headers=as_partner(a["id"]))
    assert mine.status_code == 200, mine.text
    mine = mine.json()
    assert mine["partner_id"] == a["id"]
    assert mine["resources"][0] | {"first_published_at": None} == {
        "resource_id": used["id"], "title": "Playbook", "status": "published",
        "first_published_at": None, "uses": 3, "views": 2, "downloads": 1, "people": 1,
        "partners": 1, "eligible_partners": 1, "adopting_partners": 1, "adoption": "1.0000",
        "seconds_to_first_use": 100}
    assert [p["partner_id"] for p in mine["partners"]] == [a["id"]]
    assert mine["total"] == {"resources": 1, "resources_used": 1, "uses": 3, "views": 2,
                             "downloads": 1, "people": 1, "partners": 1}
    # A partner caller's report lists only what its audience admits: D sees none of these.
    d_report = (await client.get("/v1/enablement-kpis", headers=as_partner(
        (await client.connection.execute(text(
            "SELECT id FROM partners WHERE name = 'Kpi D'"))).scalar_one()))).json()
    assert not {used["id"], unused["id"], retired["id"]} & {
        r["resource_id"] for r in d_report["resources"]}
