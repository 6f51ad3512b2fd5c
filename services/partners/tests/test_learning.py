"""Learning paths: the LMS's import, automatic and hand enrolment, completions by API and the
signed intake, the certification a completed path grants, onboarding, personal data, KPIs."""

import datetime as dt
import json
import time
import uuid
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import PartnerTierChangedV1
from prm_events.envelope import CloudEvent, new_event
from prm_partners.learning.handlers import HANDLERS
from prm_partners.onboarding.handlers import HANDLERS as ONBOARDING
from prm_partners.worker import spec
from prm_platform.signatures import signature

SECRET = "lms-shared-secret"
DAY = 86_400


def path_body(**overrides):
    return {"name": "Selling the platform", "language": "en", "roles": ["sales"],
            "courses": [{"course_id": "crs-1", "name": "Basics"},
                        {"course_id": "crs-2", "name": "Discovery"}],
            "enrol_on": ["joined"], **overrides}


async def put_path(client, vendor, external_id="path-sales", status=201, **overrides):
    response = await client.put(f"/v1/learning-paths-by-external-id/{external_id}",
                                json=path_body(**overrides), headers=vendor)
    assert response.status_code == status, response.text
    return response.json()


async def certification_type(client, vendor, code="SALES-101"):
    response = await client.post("/v1/certification-types", json={
        "code": code, "name": f"{code} course"}, headers=vendor)
    assert response.status_code == 201, response.text


async def new_partner(client, vendor, type="msp", activate=False):
    partner = (await client.post("/v1/partners", json={
        "name": f"Learners {uuid.uuid4().hex[:6]}", "type": type, "country": "DE"},
        headers=vendor)).json()
    if activate:
        partner = (await client.post(f"/v1/partners/{partner['id']}/activate",
                                     headers=vendor)).json()
    return partner


async def add_contact(client, vendor, partner_id, roles, name="Priya Raman"):
    response = await client.post(f"/v1/partners/{partner_id}/contacts", json={
        "name": name, "email": f"{uuid.uuid4().hex[:8]}@learners.example",
        "roles": roles}, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def outbox(client, partner_id, event_type) -> list[CloudEvent]:
    rows = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k AND event_type = :t ORDER BY seq"),
        {"k": str(partner_id), "t": event_type})).scalars()
    return [CloudEvent.model_validate(envelope) for envelope in rows]


async def apply(client, handlers, *events):
    for event in events:
        async with AsyncSession(bind=client.connection, expire_on_commit=False,
                                join_transaction_mode="create_savepoint") as session:
            await handlers[event.type](session, event)
            await session.commit()


async def enrolments(client, vendor, **query):
    response = await client.get("/v1/learning-enrolments", params=query, headers=vendor)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def completion(record_id, contact_id, course_id, at="2026-12-01T10:00:00Z"):
    return {"record_id": record_id, "contact_id": contact_id, "course_id": course_id,
            "completed_at": at}


async def complete(client, vendor, *items):
    response = await client.post("/v1/learning-completions",
                                 json={"completions": list(items)}, headers=vendor)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_worker_enrols_from_its_own_topic(app):
    [subscription] = [s for s in spec().subscriptions if s.name == "learning"]
    assert subscription.topics == ["prm.partners"]


async def test_import_upserts_and_keeps_versions(client, vendor, as_partner):
    await certification_type(client, vendor)
    created = await put_path(client, vendor, certification="SALES-101")
    assert created["version"] == 1 and created["certification"] == "SALES-101"
    same = await put_path(client, vendor, status=200, certification="SALES-101")
    assert same["version"] == 1 and same["id"] == created["id"]
    changed = await put_path(client, vendor, status=200, certification="SALES-101",
                             courses=[{"course_id": "crs-1", "name": "Basics"}])
    assert changed["version"] == 2
    got = (await client.get(f"/v1/learning-paths/{created['id']}", headers=vendor)).json()
    assert [(v["number"], len(v["courses"])) for v in got["versions"]] == [(1, 2), (2, 1)]
    stale = await client.put("/v1/learning-paths-by-external-id/path-sales", json=path_body(),
                             headers={**vendor, "If-Match": '"1"'})
    assert stale.status_code == 412
    unknown = await client.put("/v1/learning-paths-by-external-id/p2",
                               json=path_body(certification="NOPE"), headers=vendor)
    assert unknown.status_code == 422
    partner = await new_partner(client, vendor)
    refused = await client.put("/v1/learning-paths-by-external-id/p3", json=path_body(),
                               headers=as_partner(partner["id"]))
    assert refused.status_code == 403
    listed = (await client.get("/v1/learning-paths?role=sales&q=selling",
                               headers=vendor)).json()["items"]
    assert [p["id"] for p in listed] == [created["id"]]


async def test_activation_and_tier_change_enrol_the_right_roles(client, vendor):
    sales_path = await put_path(client, vendor, "path-sales")
    tech_path = await put_path(client, vendor, "path-gold-tech", roles=["technical"],
                               tiers=["Gold"], enrol_on=["tier_changed"])
    await put_path(client, vendor, "path-isv", roles=[], partner_types=["isv"])
    partner = await new_partner(client, vendor)
    seller = await add_contact(client, vendor, partner["id"], ["sales"])
    engineer = await add_contact(client, vendor, partner["id"], ["technical", "admin"])
    await client.post(f"/v1/partners/{partner['id']}/activate", headers=vendor)
    [activated] = await outbox(client, partner["id"], "prm.partner.status_changed.v1")
    await apply(client, HANDLERS, activated, activated)  # a redelivery enrols no one twice
    found = await enrolments(client, vendor, partner_id=partner["id"])
    assert [(e["path_id"], e["contact_id"], e["reason"], e["status"]) for e in found] == [
        (sales_path["id"], seller["id"], "joined", "enrolled")]
    # a tier change to Gold enrols the technical contact in the Gold path
    await client.connection.execute(text("UPDATE partners SET tier = 'Gold' WHERE id = :p"),
                                    {"p": partner["id"]})
    moved = new_event(PartnerTierChangedV1(
        partner={**activated.payload().partner.model_dump(), "tier": "Gold"},
        previous_tier=None, tier="Gold", direction="promotion", criteria={}, reason="won"),
        source="/prm/test", subject=partner["id"], partner_id=uuid.UUID(partner["id"]))
    await apply(client, HANDLERS, moved)
    found = await enrolments(client, vendor, partner_id=partner["id"], path_id=tech_path["id"])
    assert [(e["contact_id"], e["reason"]) for e in found] == [(engineer["id"], "tier_changed")]
    # a sales person added later to the active partner is enrolled at once
    later = await add_contact(client, vendor, partner["id"], ["sales"], name="Late Comer")
    found = await enrolments(client, vendor, contact_id=later["id"])
    assert [(e["path_id"], e["reason"]) for e in found] == [(sales_path["id"], "joined")]
    changes = await outbox(client, partner["id"], "prm.enablement.enrolment_changed.v1")
    assert len(changes) == 3
    assert changes[0].payload().status == "enrolled"


async def test_completion_grants_the_certification_once(client, vendor, as_partner):
    await certification_type(client, vendor)
    path = await put_path(client, vendor, certification="SALES-101")
    partner = await new_partner(client, vendor, activate=True)
    person = await add_contact(client, vendor, partner["id"], ["sales"])
    [enrolment] = await enrolments(client, vendor, contact_id=person["id"])
    assert enrolment["courses_total"] == 2 and enrolment["status"] == "enrolled"
    first = await complete(client, vendor, completion("r-1", person["id"], "crs-1"))
    assert first["recorded"] == 1
    got = (await client.get(f"/v1/learning-enrolments/{enrolment['id']}",
                            headers=as_partner(partner["id"]))).json()
    assert (got["status"], got["courses_done"]) == ("in_progress", 1)
    assert [c["completed_at"] is not None for c in got["courses"]] == [True, False]
    org = (await client.get(f"/v1/learning-progress?partner_id={partner['id']}",
                            headers=vendor)).json()
    assert org["paths"] == [{"path_id": path["id"], "path_name": path["name"], "enrolled": 1,
                             "in_progress": 1, "completed": 0, "courses_done": 1,
                             "courses_total": 2}]
    done = await complete(client, vendor,
                          completion("r-2", person["id"], "crs-2", "2026-12-03T10:00:00Z"))
    assert done["results"][0]["enrolments_completed"] == [enrolment["id"]]
    again = await complete(client, vendor,
                           completion("r-2", person["id"], "crs-2", "2026-12-03T10:00:00Z"),
                           completion("r-3", person["id"], "crs-2", "2026-12-04T10:00:00Z"))
    assert [r["outcome"] for r in again["results"]] == ["duplicate", "recorded"]
    certifications = (await client.get(f"/v1/partners/{partner['id']}/certifications",
                                       headers=vendor)).json()["items"]
    assert [(c["code"], c["contact_id"], c["source"], c["earned_on"])
            for c in certifications] == [("SALES-101", person["id"], "lms", "2026-12-03")]
    earned = await outbox(client, partner["id"], "prm.partner.certification_earned.v1")
    assert len(earned) == 1
    [final] = await enrolments(client, vendor, contact_id=person["id"])
    assert final["status"] == "completed" and final["completed_at"] == "2026-12-03T10:00:00Z"
    assert final["certification_id"] == certifications[0]["id"]
    statuses = [e.payload().status for e in await outbox(
        client, partner["id"], "prm.enablement.enrolment_changed.v1")]
    assert statuses == ["enrolled", "in_progress", "completed"]
    # a partner key may not report completions
    refused = await client.post("/v1/learning-completions", json={"completions": [
        completion("r-9", person["id"], "crs-1")]}, headers=as_partner(partner["id"]))
    assert refused.status_code == 403


@pytest.fixture
def lms_secret(app):
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"lms_secret": SecretStr(SECRET)})
    yield
    app.state.settings = settings


def signed(body, *, at=None, secret=SECRET):
    raw = json.dumps(body).encode()
    at = int(time.time()) if at is None else at
    return raw, {"Content-Type": "application/json",
                 "LMS-Signature": f"t={at},v1={signature(secret.encode(), at, raw)}"}


async def test_the_signed_intake(client, vendor, as_vendor, app, lms_secret):
    lms = as_vendor(["lms_intake:write"], "key-lms")
    await put_path(client, vendor)
    partner = await new_partner(client, vendor, activate=True)
    person = await add_contact(client, vendor, partner["id"], ["sales"])
    email = person["email"]
    body = {"completions": [
        completion("i-1", person["id"], "crs-1"),
        {"record_id": "i-2", "partner_id": partner["id"], "email": email,
         "course_id": "crs-2", "completed_at": "2026-12-02T10:00:00Z"},
        completion("i-3", str(uuid.uuid4()), "crs-1"),
        completion("i-4", person["id"], "crs-1", "2999-01-01T00:00:00Z")]}
    raw, headers = signed(body)
    first = await client.post("/v1/lms-intake", content=raw, headers={**lms, **headers})
    assert first.status_code == 200, first.text
    assert [r["outcome"] for r in first.json()["results"]] == [
        "recorded", "recorded", "refused", "refused"]
    assert first.json()["results"][2]["problem"]["type"] == "/problems/validation-error"
    [enrolment] = await enrolments(client, vendor, contact_id=person["id"])
    assert enrolment["status"] == "completed"
    replay = await client.post("/v1/lms-intake", content=raw, headers={**lms, **headers})
    assert [r["outcome"] for r in replay.json()["results"]][:2] == ["duplicate", "duplicate"]
    forged = await client.post("/v1/lms-intake", content=raw, headers={
        **lms, **signed(body, secret="wrong")[1]})
    stale = await client.post("/v1/lms-intake", content=raw, headers={
        **lms, **signed(body, at=int(time.time()) - 600)[1]})
    unsigned = await client.post("/v1/lms-intake", content=raw, headers={
        **lms, "Content-Type": "application/json"})
    for refused in (forged, stale, unsigned):
        assert refused.status_code == 403
        assert refused.json()["type"] == "/problems/invalid-signature"
    # the intake's key can do nothing else, and a general vendor key lacks the intake scope
    assert (await client.get("/v1/learning-paths", headers=lms)).status_code == 403
    wrong_key = await client.post("/v1/lms-intake", content=raw, headers={
        **as_vendor(["enablement:write"]), **headers})
    assert wrong_key.status_code == 403
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"lms_secret": None})
    try:
        off = await client.post("/v1/lms-intake", content=raw, headers={**lms, **headers})
    finally:
        app.state.settings = settings
    assert off.status_code == 403
    assert off.json()["type"] == "/problems/lms-intake-not-configured"


async def test_an_onboarding_task_completes_with_the_path(client, vendor):
    template = await client.post("/v1/onboarding-templates", json={
        "name": "Learners", "partner_types": ["distributor"], "activates_partner": False,
        "tasks": [{"key": "learn", "title": "Complete the sales path",
                   "kind": "learning_path_completed",
                   "params": {"learning_path": "path-sales"}}]}, headers=vendor)
    assert template.status_code == 201, template.text
    path = await put_path(client, vendor, enrol_on=[])
    partner = await new_partner(client, vendor, type="distributor")
    [created] = await outbox(client, partner["id"], "prm.partner.created.v1")
    await apply(client, ONBOARDING, created)
    person = await add_contact(client, vendor, partner["id"], ["sales"])
    enrolled = await client.post("/v1/learning-enrolments", json={
        "path_id": path["id"], "contact_id": person["id"]}, headers=vendor)
    assert enrolled.status_code == 201, enrolled.text
    again = await client.post("/v1/learning-enrolments", json={
        "path_id": path["id"], "contact_id": person["id"]}, headers=vendor)
    assert again.status_code == 200 and again.json()["id"] == enrolled.json()["id"]
    await complete(client, vendor, completion("o-1", person["id"], "crs-1"),
                   completion("o-2", person["id"], "crs-2"))
    plan = (await client.get(f"/v1/partners/{partner['id']}/onboarding",
                             headers=vendor)).json()
    [task] = plan["tasks"]
    assert task["kind"] == "learning_path_completed" and task["status"] == "done"
    assert plan["status"] == "completed"


async def test_export_and_erasure_of_a_persons_learning(client, vendor):
    await put_path(client, vendor)
    partner = await new_partner(client, vendor, activate=True)
    person = await add_contact(client, vendor, partner["id"], ["sales"])
    await complete(client, vendor, completion("e-1", person["id"], "crs-1"))
    url = f"/v1/partners/{partner['id']}/contacts/{person['id']}"
    exported = (await client.get(f"{url}/export", headers=vendor)).json()
    assert [e["courses_done"] for e in exported["learning_enrolments"]] == [1]
    assert [c["record_id"] for c in exported["learning_completions"]] == ["e-1"]
    erased = await client.post(f"{url}/erase", headers=vendor)
    assert erased.status_code == 200, erased.text
    left = (await client.connection.execute(text(
        "SELECT (SELECT count(*) FROM learning_enrolments WHERE contact_id = :c) + "
        "(SELECT count(*) FROM learning_completions WHERE contact_id = :c)"),
        {"c": person["id"]})).scalar_one()
    assert left == 0
    assert [e["contact_id"] for e in await enrolments(client, vendor,
                                                       partner_id=partner["id"])] == [None]
    exported = (await client.get(f"{url}/export", headers=vendor)).json()
    assert exported["learning_enrolments"] == [] and exported["learning_completions"] == []
    # the LMS reporting the erased person again is refused
    late = await complete(client, vendor, completion("e-2", person["id"], "crs-2"))
    assert late["refused"] == 1


async def test_kpis_equal_the_hand_computed_values(client, vendor, as_partner):
    path = await put_path(client, vendor)
    a = await new_partner(client, vendor, activate=True)
    b = await new_partner(client, vendor, activate=True)
    people = [await add_contact(client, vendor, a["id"], ["sales"], name=f"A{i}")
              for i in range(3)] + [await add_contact(client, vendor, b["id"], ["sales"])]
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    # enrolment times set by hand: A0, A1, A2 on day 0, B0 on day 2
    for person, day in zip(people, (0, 0, 0, 2), strict=True):
        await client.connection.execute(text(
            "UPDATE learning_enrolments SET enrolled_at = :at WHERE contact_id = :c"),
            {"at": base + dt.timedelta(days=day), "c": person["id"]})

    def at(days, hours=0):
        return (base + dt.timedelta(days=days, hours=hours)).isoformat()
    # A0 completes after 1 day, A1 after 4 days 12 hours; B0 after 2 days (day 4)
    await complete(client, vendor,
                   completion("k-1", people[0]["id"], "crs-1", at(0, 5)),
                   completion("k-2", people[0]["id"], "crs-2", at(1)),
                   completion("k-3", people[1]["id"], "crs-1", at(2)),
                   completion("k-4", people[1]["id"], "crs-2", at(4, 12)),
                   completion("k-5", people[2]["id"], "crs-1", at(3)),
                   completion("k-6", people[3]["id"], "crs-1", at(4)),
                   completion("k-7", people[3]["id"], "crs-2", at(4)))
    scope = (await client.get("/v1/learning-kpis", headers=vendor)).json()
    [kpi] = scope["paths"]
    assert kpi["path_id"] == path["id"]
    assert (kpi["enrolled"], kpi["completed"]) == (4, 3)
    assert Decimal(kpi["completion_rate"]) == Decimal("0.7500")
    # durations 1 d, 4.5 d, 2 d: the median is 2 days
    assert Decimal(kpi["median_seconds_to_completion"]) == 2 * DAY
    # first completion day 1, first enrolment day 0
    assert kpi["seconds_to_first_completion"] == DAY
    assert scope["total"]["enrolled"] == 4
    own = (await client.get("/v1/learning-kpis", headers=as_partner(a["id"]))).json()
    [kpi] = own["paths"]
    assert own["partner_id"] == a["id"]
    assert (kpi["enrolled"], kpi["completed"], kpi["completion_rate"]) == (3, 2, "0.6667")
    # durations 1 d and 4.5 d: the median is their mean, 2.75 days
    assert Decimal(kpi["median_seconds_to_completion"]) == Decimal(DAY) * Decimal("2.75")
    hidden = await client.get(f"/v1/learning-kpis?partner_id={b['id']}",
                              headers=as_partner(a["id"]))
    assert hidden.status_code == 404


async def test_a_changed_path_keeps_its_enrolments(client, vendor, as_partner):
    path = await put_path(client, vendor, enrol_on=[])
    partner = await new_partner(client, vendor, activate=True)
    person = await add_contact(client, vendor, partner["id"], ["admin"])
    # a partner key enrols its own contact by hand
    enrolled = await client.post("/v1/learning-enrolments", json={
        "path_id": path["id"], "contact_id": person["id"]}, headers=as_partner(partner["id"]))
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["reason"] == "by_hand"
    await complete(client, vendor, completion("v-1", person["id"], "crs-1"))
    # a third course: still in progress, now of three
    await put_path(client, vendor, status=200, enrol_on=[], courses=[
        {"course_id": "crs-1", "name": "Basics"}, {"course_id": "crs-2", "name": "Discovery"},
        {"course_id": "crs-3", "name": "Demo"}])
    [got] = await enrolments(client, vendor, contact_id=person["id"])
    assert (got["status"], got["courses_done"], got["courses_total"], got["path_version"]) == (
        "in_progress", 1, 3, 1)
    # down to the one course done: the enrolment completes with the change
    await put_path(client, vendor, status=200, enrol_on=[],
                   courses=[{"course_id": "crs-1", "name": "Basics"}])
    [got] = await enrolments(client, vendor, contact_id=person["id"])
    assert (got["status"], got["courses_done"], got["courses_total"]) == ("completed", 1, 1)
    # and stays completed whatever the path becomes
    await put_path(client, vendor, status=200, enrol_on=[])
    [got] = await enrolments(client, vendor, contact_id=person["id"])
    assert got["status"] == "completed"


async def test_a_contact_who_did_the_courses_completes_on_enrolment(client, vendor):
    await certification_type(client, vendor, "TECH-1")
    partner = await new_partner(client, vendor, activate=True)
    person = await add_contact(client, vendor, partner["id"], ["technical"])
    await complete(client, vendor, completion("p-1", person["id"], "crs-1"),
                   completion("p-2", person["id"], "crs-2"))
    path = await put_path(client, vendor, enrol_on=[], certification="TECH-1")
    enrolled = await client.post("/v1/learning-enrolments", json={
        "path_id": path["id"], "contact_id": person["id"]}, headers=vendor)
    assert enrolled.status_code == 201 and enrolled.json()["status"] == "completed"
    certifications = (await client.get(f"/v1/partners/{partner['id']}/certifications",
                                       headers=vendor)).json()["items"]
    assert [c["code"] for c in certifications] == ["TECH-1"]
