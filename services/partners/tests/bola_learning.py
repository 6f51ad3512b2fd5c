"""BOLA cases of the learning part (collected by test_authorisation.py): org B's key reaches
none of org A's enrolments, progress or KPIs, enrols none of A's contacts, and the import, the
completions and the LMS intake are the vendor's."""

from sqlalchemy import text

PATH = {"name": "Selling", "language": "en", "roles": [],
        "courses": [{"course_id": "c-1", "name": "Basics"}], "enrol_on": []}


async def _path(client, vendor, external_id="bola-path"):
    response = await client.put(f"/v1/learning-paths-by-external-id/{external_id}", json=PATH,
                                headers=vendor)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _contact_of_a(client, a, vendor):
    response = await client.post(f"/v1/partners/{a[0]['id']}/contacts", json={
        "name": "A person", "email": "person@a.example", "roles": ["sales"]}, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def _enrolment_of_a(client, a, vendor):
    path, contact = await _path(client, vendor), await _contact_of_a(client, a, vendor)
    response = await client.post("/v1/learning-enrolments", json={
        "path_id": path["id"], "contact_id": contact["id"]}, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def _count(client, table, partner_id) -> int:
    return (await client.connection.execute(text(
        f"SELECT count(*) FROM {table} WHERE partner_id = :p"), {"p": partner_id})).scalar_one()


async def import_learning_path(client, a, b, vendor):
    refused = await client.put("/v1/learning-paths-by-external-id/b-path", json=PATH, headers=b[1])
    assert refused.status_code == 403


async def list_learning_paths(client, a, b, vendor):
    path = await _path(client, vendor)
    seen = await client.get("/v1/learning-paths", headers=b[1])
    assert seen.status_code == 200 and path["id"] in {p["id"] for p in seen.json()["items"]}


async def get_learning_path(client, a, b, vendor):
    path = await _path(client, vendor)
    # a path for another partner type is not shown to B (a reseller)
    other = await client.put("/v1/learning-paths-by-external-id/isv-only", json={
        **PATH, "partner_types": ["isv"]}, headers=vendor)
    assert (await client.get(f"/v1/learning-paths/{other.json()['id']}",
                             headers=b[1])).status_code == 404
    assert (await client.get(f"/v1/learning-paths/{path['id']}",
                             headers=b[1])).status_code == 200


async def enrol_in_learning_path(client, a, b, vendor):
    path, contact = await _path(client, vendor), await _contact_of_a(client, a, vendor)
    hidden = await client.post("/v1/learning-enrolments", json={
        "path_id": path["id"], "contact_id": contact["id"]}, headers=b[1])
    assert hidden.status_code == 422 and "A person" not in hidden.text
    assert await _count(client, "learning_enrolments", a[0]["id"]) == 0


async def list_learning_enrolments(client, a, b, vendor):
    await _enrolment_of_a(client, a, vendor)
    for query in ("", f"?partner_id={a[0]['id']}"):
        seen = await client.get(f"/v1/learning-enrolments{query}", headers=b[1])
        assert seen.status_code == 200 and seen.json()["items"] == [], query


async def get_learning_enrolment(client, a, b, vendor):
    enrolment = await _enrolment_of_a(client, a, vendor)
    hidden = await client.get(f"/v1/learning-enrolments/{enrolment['id']}", headers=b[1])
    assert hidden.status_code == 404


async def record_learning_completions(client, a, b, vendor):
    contact = await _contact_of_a(client, a, vendor)
    refused = await client.post("/v1/learning-completions", json={"completions": [{
        "record_id": "b-1", "contact_id": contact["id"], "course_id": "c-1",
        "completed_at": "2026-12-01T10:00:00Z"}]}, headers=b[1])
    assert refused.status_code == 403
    assert await _count(client, "learning_completions", a[0]["id"]) == 0


async def deliver_learning_completions(client, a, b, vendor):
    contact = await _contact_of_a(client, a, vendor)
    refused = await client.post("/v1/lms-intake", json={"completions": [{
        "record_id": "b-1", "contact_id": contact["id"], "course_id": "c-1",
        "completed_at": "2026-12-01T10:00:00Z"}]},
        headers={**b[1], "LMS-Signature": "t=0,v1=00"})
    assert refused.status_code == 403
    assert await _count(client, "learning_completions", a[0]["id"]) == 0


async def get_learning_progress(client, a, b, vendor):
    await _enrolment_of_a(client, a, vendor)
    hidden = await client.get(f"/v1/learning-progress?partner_id={a[0]['id']}", headers=b[1])
    assert hidden.status_code == 404
    own = await client.get(f"/v1/learning-progress?partner_id={b[0]['id']}", headers=b[1])
    assert own.status_code == 200 and own.json()["paths"] == []


async def get_learning_kpis(client, a, b, vendor):
    await _enrolment_of_a(client, a, vendor)
    hidden = await client.get(f"/v1/learning-kpis?partner_id={a[0]['id']}", headers=b[1])
    assert hidden.status_code == 404
    own = (await client.get("/v1/learning-kpis", headers=b[1])).json()
    assert own["partner_id"] == b[0]["id"] and own["total"]["enrolled"] == 0


CASES = {
    ("PUT", "/v1/learning-paths-by-external-id/{external_id}"): import_learning_path,
    ("GET", "/v1/learning-paths"): list_learning_paths,
    ("GET", "/v1/learning-paths/{path_id}"): get_learning_path,
    ("POST", "/v1/learning-enrolments"): enrol_in_learning_path,
    ("GET", "/v1/learning-enrolments"): list_learning_enrolments,
    ("GET", "/v1/learning-enrolments/{enrolment_id}"): get_learning_enrolment,
    ("POST", "/v1/learning-completions"): record_learning_completions,
    ("POST", "/v1/lms-intake"): deliver_learning_completions,
    ("GET", "/v1/learning-progress"): get_learning_progress,
    ("GET", "/v1/learning-kpis"): get_learning_kpis,
}
