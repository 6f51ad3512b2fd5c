"""Onboarding: templates, plans started by the partner's own events, tasks completed by hand
or from events (facts that came first included), completion once, activation."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import (
    DEALS_TOPIC,
    PARTNERS_TOPIC,
    AgreementSignedV1,
    Amount,
    CertificationEarnedV1,
    Customer,
    DealRegisteredV1,
)
from prm_events.envelope import CloudEvent, new_event
from prm_partners.onboarding import background, service
from prm_partners.onboarding.handlers import HANDLERS
from prm_partners.worker import spec

TEMPLATE = {
    "name": "MSP onboarding", "partner_types": ["msp"], "activates_partner": True,
    "tasks": [
        {"key": "agreement", "title": "Sign the reseller agreement", "kind": "agreement_signed",
         "params": {"agreement": "reseller-agreement"}, "due_in_days": 14},
        {"key": "certified", "title": "Earn SALES-101", "kind": "certification_earned",
         "params": {"certification": "SALES-101"}, "due_in_days": 30},
        {"key": "first-deal", "title": "Register a first deal",
         "kind": "first_deal_registered", "due_in_days": 60},
        {"key": "kick-off", "title": "Kick-off call", "kind": "manual"},
    ],
}


def test_the_worker_subscribes_the_handlers_and_runs_the_job(prm_infra):
    assert set(HANDLERS) == {
        "prm.partner.created.v1", "prm.partner.status_changed.v1",
        "prm.partner.agreement_signed.v1", "prm.partner.certification_earned.v1",
        "prm.deal.registered.v1"}
    [subscription] = background.SUBSCRIPTIONS
    assert subscription.name == "onboarding"
    assert set(subscription.topics) == {PARTNERS_TOPIC, DEALS_TOPIC}
    assert subscription.handlers is HANDLERS
    worker = spec()
    assert subscription in worker.subscriptions
    assert {job.name for job in background.JOBS} <= {job.name for job in worker.jobs}


# Helpers


async def create_template(client, vendor, **overrides):
    response = await client.post("/v1/onboarding-templates", json={**TEMPLATE, **overrides},
                                 headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def create_partner(client, vendor, type="msp"):
    response = await client.post("/v1/partners", json={
        "name": "Acme Cloud", "type": type, "country": "DE"}, headers=vendor)
    assert response.status_code == 201, response.text
    return response.json()


async def emitted(client, partner_id, event_type) -> list[CloudEvent]:
    rows = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k AND event_type = :t ORDER BY seq"),
        {"k": str(partner_id), "t": event_type})).scalars()
    return [CloudEvent.model_validate(envelope) for envelope in rows]


async def apply(client, *events):
    """Runs the handlers as the worker does, one transaction per event, on the test's
    connection (so they see what the API wrote)."""
    for event in events:
        async with AsyncSession(bind=client.connection, expire_on_commit=False,
                                join_transaction_mode="create_savepoint") as session:
            await HANDLERS[event.type](session, event)
            await session.commit()


def event(payload, partner_id, time=None) -> CloudEvent:
    built = new_event(payload, source="/prm/test", subject=str(partner_id),
                      partner_id=partner_id)
    return built.model_copy(update={"time": time}) if time else built


def signed(partner_id, agreement="reseller-agreement", time=None, signature_id=None):
    return event(AgreementSignedV1(
        partner_id=partner_id, signature_id=signature_id or uuid.uuid4(), agreement=agreement,
        version=1, signed_on=dt.date(2026, 11, 20)), partner_id, time)


def certified(partner_id, code="SALES-101", time=None):
    return event(CertificationEarnedV1(
        partner_id=partner_id, certification_id=uuid.uuid4(), code=code,
        earned_on=dt.date(2026, 11, 21)), partner_id, time)


def registered(partner_id, time=None, deal_id=None):
    return event(DealRegisteredV1(
        deal_id=deal_id or uuid.uuid4(), partner_id=partner_id,
        customer=Customer(name="Globex", domain="globex.example", country="DE"),
        amount=Amount(amount="1000.00", currency="EUR"),
        expected_close_date=dt.date(2027, 3, 1), status="submitted"), partner_id, time)


async def started(client, vendor, type="msp"):
    """A partner created in onboarding whose creation event the worker handled."""
    partner = await create_partner(client, vendor, type)
    [created] = await emitted(client, partner["id"], "prm.partner.created.v1")
    await apply(client, created)
    return partner, created


async def plan(client, partner_id, headers):
    response = await client.get(f"/v1/partners/{partner_id}/onboarding", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def by_key(plan_json):
    return {task["key"]: task for task in plan_json["tasks"]}


# Templates


async def test_template_crud_with_etags_and_pagination(client, vendor, as_partner):
    first = await create_template(client, vendor)
    assert first["version"] == 1 and [t["key"] for t in first["tasks"]] == [
        "agreement", "certified", "first-deal", "kick-off"]
    assert first["tasks"][3]["params"] == {} and first["tasks"][3]["due_in_days"] is None
    second = await create_template(client, vendor, name="Everyone", partner_types=[])
    url = f"/v1/onboarding-templates/{first['id']}"
    got = await client.get(url, headers=vendor)
    assert got.status_code == 200 and got.headers["etag"] == '"1"'

    page1 = (await client.get("/v1/onboarding-templates?limit=1", headers=vendor)).json()
    assert [t["id"] for t in page1["items"]] == [first["id"]]
    page2 = (await client.get(
        f"/v1/onboarding-templates?limit=1&cursor={page1['next_cursor']}",
        headers=vendor)).json()
    assert [t["id"] for t in page2["items"]] == [second["id"]]
    for_isv = (await client.get("/v1/onboarding-templates?partner_type=isv",
                                headers=vendor)).json()
    assert second["id"] in [t["id"] for t in for_isv["items"]]
    assert first["id"] not in [t["id"] for t in for_isv["items"]]

    stale = await client.patch(url, json={"name": "Renamed"},
                               headers={**vendor, "If-Match": '"7"'})
    assert stale.status_code == 412
    renamed = await client.patch(url, json={"name": "Renamed"},
                                 headers={**vendor, "If-Match": '"1"'})
    assert renamed.status_code == 200 and renamed.json()["version"] == 2
    assert renamed.headers["etag"] == '"2"'
    same = await client.patch(url, json={"name": "Renamed"}, headers=vendor)
    assert same.json()["version"] == 2  # nothing changed, no new version

    partner = as_partner(uuid.uuid4())
    assert (await client.get(url, headers=partner)).status_code == 200
    assert (await client.post("/v1/onboarding-templates", json=TEMPLATE,
                              headers=partner)).status_code == 403
    assert (await client.delete(url, headers={**vendor, "If-Match": '"1"'})).status_code == 412
    assert (await client.delete(url, headers=vendor)).status_code == 204
    assert (await client.get(url, headers=vendor)).status_code == 404


@pytest.mark.parametrize("change, field", [
    ({"tasks": []}, "tasks"),
    ({"tasks": [{"key": "a", "title": "A", "kind": "agreement_signed"}]}, "tasks[0]"),
    ({"tasks": [{"key": "a", "title": "A", "kind": "manual",
                 "params": {"agreement": "x"}}]}, "tasks[0]"),
    ({"tasks": [{"key": "a", "title": "A", "kind": "contacts_added",
                 "params": {"contacts": 0}}]}, "tasks[0].params.contacts"),
    ({"tasks": [{"key": "a", "title": "A", "kind": "manual"},
                {"key": "a", "title": "B", "kind": "manual"}]}, "tasks"),
    ({"tasks": [{"key": "A B", "title": "A", "kind": "manual"}]}, "tasks[0].key"),
    ({"tasks": [{"key": "a", "title": "A", "kind": "dance"}]}, "tasks[0].kind"),
    ({"tasks": [{"key": "a", "title": "A", "kind": "manual", "due_in_days": -1}]},
     "tasks[0].due_in_days"),
    ({"partner_types": ["pirate"]}, "partner_types[0]"),
    ({"name": ""}, "name"),
])
async def test_bad_templates_are_problems(client, vendor, change, field):
    response = await client.post("/v1/onboarding-templates", json={**TEMPLATE, **change},
                                 headers=vendor)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert any(e["field"] == field for e in body["errors"]), body["errors"]


async def test_bad_ids_and_cursors_are_problems(client, vendor):
    missing = await client.get(f"/v1/onboarding-templates/{uuid.uuid4()}", headers=vendor)
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"
    cursor = await client.get("/v1/onboarding-tasks?cursor=nonsense", headers=vendor)
    assert cursor.status_code == 422 and cursor.json()["type"] == "/problems/validation-error"
    assert cursor.json()["errors"][0]["field"] == "cursor"
    null = await client.patch(f"/v1/onboarding-templates/{uuid.uuid4()}",
                              json={"name": None}, headers=vendor)
    assert null.status_code == 422


# Plans


async def test_entering_onboarding_starts_one_plan_with_due_dates(client, vendor):
    await create_template(client, vendor, name="For everyone", partner_types=[])
    specific = await create_template(client, vendor)
    await create_template(client, vendor, name="Broad", partner_types=["msp", "mssp"])
    partner, created = await started(client, vendor)
    await apply(client, created, created)  # redelivered, twice

    body = await plan(client, partner["id"], vendor)
    assert body["template_id"] == specific["id"]  # naming msp alone beats broader and newer
    assert body["status"] == "open" and body["progress"] == {"done": 0, "total": 4,
                                                             "percent": 0}
    tasks = by_key(body)
    started_at = dt.datetime.fromisoformat(body["started_at"])
    assert started_at == created.time
    assert dt.datetime.fromisoformat(tasks["agreement"]["due_at"]) == \
        created.time + dt.timedelta(days=14)
    assert tasks["kick-off"]["due_at"] is None
    assert {t["status"] for t in body["tasks"]} == {"open"}
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM onboarding_plans WHERE partner_id = :p"),
        {"p": partner["id"]})).scalar_one()
    assert count == 1


async def test_no_applicable_template_no_plan(client, vendor):
    await create_template(client, vendor)  # msp only
    partner, _ = await started(client, vendor, type="isv")
    missing = await client.get(f"/v1/partners/{partner['id']}/onboarding", headers=vendor)
    assert missing.status_code == 404


async def test_a_replay_after_the_onboarding_ended_starts_nothing(client, vendor):
    partner, created = await started(client, vendor)  # no template yet: no plan
    await create_template(client, vendor)
    await client.post(f"/v1/partners/{partner['id']}/activate", headers=vendor)
    await apply(client, created)  # replayed from the start of the topic
    assert (await client.get(f"/v1/partners/{partner['id']}/onboarding",
                             headers=vendor)).status_code == 404


async def test_reinstated_partner_gets_a_new_plan_once(client, vendor):
    await create_template(client, vendor, activates_partner=False)
    partner, created = await started(client, vendor)
    first = await plan(client, partner["id"], vendor)
    for task in first["tasks"]:
        await client.post(f"/v1/partners/{partner['id']}/onboarding/tasks/{task['id']}"
                          "/complete", headers=vendor)
    assert (await plan(client, partner["id"], vendor))["status"] == "completed"
    url = f"/v1/partners/{partner['id']}"
    await client.post(f"{url}/offboard", json={"reason": "left"}, headers=vendor)
    await client.post(f"{url}/reinstate", json={"reason": "back"}, headers=vendor)
    changes = await emitted(client, partner["id"], "prm.partner.status_changed.v1")
    await apply(client, created, *changes, *changes)
    second = await plan(client, partner["id"], vendor)
    assert second["id"] != first["id"] and second["status"] == "open"
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM onboarding_plans WHERE partner_id = :p"),
        {"p": partner["id"]})).scalar_one()
    assert count == 2


async def test_template_changes_never_rewrite_a_started_plan(client, vendor):
    template = await create_template(client, vendor)
    partner, _ = await started(client, vendor)
    changed = await client.patch(f"/v1/onboarding-templates/{template['id']}", json={
        "tasks": [{"key": "only", "title": "Only task", "kind": "manual"}]}, headers=vendor)
    assert changed.status_code == 200
    body = await plan(client, partner["id"], vendor)
    assert len(body["tasks"]) == 4 and body["template_version"] == 1
    await client.delete(f"/v1/onboarding-templates/{template['id']}", headers=vendor)
    body = await plan(client, partner["id"], vendor)
    assert body["template_id"] is None and len(body["tasks"]) == 4


# Completing tasks


async def test_events_complete_tasks_even_when_they_came_first_and_once(client, vendor,
                                                                        as_partner):
    await create_template(client, vendor)
    partner = await create_partner(client, vendor)
    pid = uuid.UUID(partner["id"])
    [created] = await emitted(client, pid, "prm.partner.created.v1")
    early = signed(pid, time=created.time - dt.timedelta(days=3))
    other_agreement = signed(pid, agreement="nda")
    await apply(client, early, other_agreement, created)  # the signature came first

    tasks = by_key(await plan(client, pid, vendor))
    assert tasks["agreement"]["status"] == "done"
    assert tasks["agreement"]["completed_how"] == "event"
    assert tasks["agreement"]["completed_by"] == "prm.partner.agreement_signed.v1"
    # not before the plan: a fact that came first counts from the plan's start
    assert dt.datetime.fromisoformat(tasks["agreement"]["completed_at"]) == created.time

    cert, deal = certified(pid), registered(pid)
    await apply(client, certified(pid, code="OTHER-1"), cert, deal, deal, early)
    body = await plan(client, pid, vendor)
    tasks = by_key(body)
    assert tasks["certified"]["status"] == "done"
    assert dt.datetime.fromisoformat(tasks["certified"]["completed_at"]) == cert.time
    assert tasks["first-deal"]["status"] == "done"
    assert body["progress"] == {"done": 3, "total": 4, "percent": 75}

    # the partner ticks its manual task: the plan completes and activates it
    own = as_partner(partner["id"])
    done = await client.post(f"/v1/partners/{pid}/onboarding/tasks/"
                             f"{tasks['kick-off']['id']}/complete",
                             json={"note": "call held"}, headers=own)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "completed" and body["progress"]["percent"] == 100
    kick_off = by_key(body)["kick-off"]
    assert (kick_off["completed_how"], kick_off["note"]) == ("by_hand", "call held")
    assert kick_off["completed_by"] == f"key-{pid}"
    got = await client.get(f"/v1/partners/{pid}", headers=vendor)
    assert got.json()["status"] == "active"
    assert got.json()["status_reason"] == "onboarding plan completed"

    # replays and redeliveries change nothing, and the completion is announced once
    await apply(client, created, early, cert, deal)
    [completed] = await emitted(client, pid, "prm.partner.onboarding_completed.v1")
    assert completed.data["plan_id"] == body["id"]
    assert (await plan(client, pid, vendor))["version"] == body["version"]
    activations = [e for e in await emitted(client, pid, "prm.partner.status_changed.v1")
                   if e.data["partner"]["status"] == "active"]
    assert len(activations) == 1


async def test_completion_without_activation_leaves_the_partner_onboarding(client, vendor):
    await create_template(client, vendor, activates_partner=False, tasks=[
        {"key": "agreement", "title": "Sign", "kind": "agreement_signed",
         "params": {"agreement": "reseller-agreement"}}])
    partner, _ = await started(client, vendor)
    await apply(client, signed(uuid.UUID(partner["id"])))
    body = await plan(client, partner["id"], vendor)
    assert body["status"] == "completed"
    assert len(await emitted(client, partner["id"],
                             "prm.partner.onboarding_completed.v1")) == 1
    got = await client.get(f"/v1/partners/{partner['id']}", headers=vendor)
    assert got.json()["status"] == "onboarding"


async def test_who_may_complete_which_task(client, vendor, as_partner):
    await create_template(client, vendor)
    partner, _ = await started(client, vendor)
    other, _ = await started(client, vendor)
    body = await plan(client, partner["id"], vendor)
    tasks = by_key(body)
    url = f"/v1/partners/{partner['id']}/onboarding/tasks"
    own = as_partner(partner["id"])

    refused = await client.post(f"{url}/{tasks['agreement']['id']}/complete", headers=own)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    stranger = as_partner(other["id"])
    hidden = await client.post(f"{url}/{tasks['kick-off']['id']}/complete", headers=stranger)
    assert hidden.status_code == 404
    # its own path with another org's task id is a 404 too
    sneaky = await client.post(f"/v1/partners/{other['id']}/onboarding/tasks/"
                               f"{tasks['kick-off']['id']}/complete", headers=stranger)
    assert sneaky.status_code == 404
    read_only = as_partner(partner["id"], scopes=("partners:read",))
    assert (await client.post(f"{url}/{tasks['kick-off']['id']}/complete",
                              headers=read_only)).status_code == 403
    assert (await plan(client, partner["id"], vendor))["version"] == body["version"]

    stale = await client.post(f"{url}/{tasks['agreement']['id']}/complete",
                              headers={**vendor, "If-Match": '"9"'})
    assert stale.status_code == 412
    by_vendor = await client.post(f"{url}/{tasks['agreement']['id']}/complete",
                                  headers={**vendor, "If-Match": f'"{body["version"]}"'})
    assert by_vendor.status_code == 200
    assert by_vendor.headers["etag"] == f'"{body["version"] + 1}"'
    assert by_key(by_vendor.json())["agreement"]["completed_how"] == "by_hand"
    again = await client.post(f"{url}/{tasks['agreement']['id']}/complete", headers=vendor)
    assert again.status_code == 409
    unknown = await client.post(f"{url}/{uuid.uuid4()}/complete", headers=vendor)
    assert unknown.status_code == 404
    too_long = await client.post(f"{url}/{tasks['kick-off']['id']}/complete",
                                 json={"note": "x" * 501}, headers=own)
    assert too_long.status_code == 422


async def test_overdue_tasks_across_partners(client, vendor, as_partner):
    await create_template(client, vendor)
    late = await create_partner(client, vendor)
    [created] = await emitted(client, late["id"], "prm.partner.created.v1")
    await apply(client, created.model_copy(update={
        "time": dt.datetime.now(dt.UTC) - dt.timedelta(days=20)}))
    punctual, _ = await started(client, vendor)

    overdue = (await client.get(f"/v1/onboarding-tasks?status=overdue&partner_id={late['id']}",
                                headers=vendor)).json()
    assert [t["key"] for t in overdue["items"]] == ["agreement"]
    assert overdue["items"][0]["status"] == "overdue"
    assert (await client.get(
        f"/v1/onboarding-tasks?status=overdue&partner_id={punctual['id']}",
        headers=vendor)).json()["items"] == []
    not_overdue = (await client.get(
        f"/v1/onboarding-tasks?status=open,done&partner_id={late['id']}",
        headers=vendor)).json()
    assert [t["key"] for t in not_overdue["items"]] == ["certified", "first-deal", "kick-off"]
    assert by_key(await plan(client, late["id"], vendor))["agreement"]["status"] == "overdue"

    page1 = (await client.get(f"/v1/onboarding-tasks?partner_id={late['id']}&limit=3",
                              headers=vendor)).json()
    page2 = (await client.get(f"/v1/onboarding-tasks?partner_id={late['id']}&limit=3"
                              f"&cursor={page1['next_cursor']}", headers=vendor)).json()
    assert len(page1["items"]) == 3 and len(page2["items"]) == 1
    assert page2["next_cursor"] is None

    # a partner key sees its own tasks only, whatever it asks for
    mine = (await client.get("/v1/onboarding-tasks", headers=as_partner(punctual["id"]))
            ).json()
    assert {t["partner_id"] for t in mine["items"]} == {punctual["id"]}
    theirs = (await client.get(f"/v1/onboarding-tasks?partner_id={late['id']}",
                               headers=as_partner(punctual["id"]))).json()
    assert theirs["items"] == []


async def test_contacts_tasks_wait_for_the_contacts_part(client, vendor, monkeypatch):
    await create_template(client, vendor, activates_partner=False, tasks=[
        {"key": "contacts", "title": "Add two contacts", "kind": "contacts_added",
         "params": {"contacts": 2}}])
    partner, _ = await started(client, vendor)
    counts = {"n": 1}

    async def contact_count(session, partner_id):
        return counts["n"]

    # The count the periodic check reads stands in for contacts added meanwhile.
    monkeypatch.setattr(service, "_contact_count", contact_count)
    body = await plan(client, partner["id"], vendor)
    assert body["tasks"][0]["status"] == "open"
    counts["n"] = 2
    async with AsyncSession(bind=client.connection, expire_on_commit=False,
                            join_transaction_mode="create_savepoint") as session:
        assert await service.check_contacts(session) >= 1
        await session.commit()
    body = await plan(client, partner["id"], vendor)
    task = body["tasks"][0]
    assert (task["status"], task["completed_how"], task["completed_by"]) == (
        "done", "check", "contact_count")
    assert body["status"] == "completed"


async def test_reading_the_plan_changes_nothing(client, vendor, monkeypatch):
    """A read completes no task, even one whose contacts are there: the plan, the partner
    and the outbox stay as they were, and the periodic check completes it."""
    await create_template(client, vendor, activates_partner=True, tasks=[
        {"key": "contacts", "title": "Add a contact", "kind": "contacts_added",
         "params": {"contacts": 1}}])
    partner, _ = await started(client, vendor)

    async def contact_count(session, partner_id):
        return 1

    monkeypatch.setattr(service, "_contact_count", contact_count)

    async def state():
        return (await client.connection.execute(text(
            "SELECT p.version, p.status, pl.version AS plan_version, pl.status AS plan_status, "
            "  pl.updated_at, pl.checked_at, "
            "  (SELECT array_agg(t.completed_at) FROM onboarding_tasks t "
            "   WHERE t.plan_id = pl.id) AS completed, "
            "  (SELECT count(*) FROM outbox o WHERE o.key = CAST(p.id AS text)) AS events "
            "FROM partners p JOIN onboarding_plans pl ON pl.partner_id = p.id "
            "WHERE p.id = :id"), {"id": partner["id"]})).one()

    before = await state()
    body = await plan(client, partner["id"], vendor)
    assert body["status"] == "open" and body["tasks"][0]["status"] == "open"
    assert body["version"] == before.plan_version
    assert await state() == before
    async with AsyncSession(bind=client.connection, expire_on_commit=False,
                            join_transaction_mode="create_savepoint") as session:
        assert await service.check_contacts(session) >= 1
        await session.commit()
    assert (await plan(client, partner["id"], vendor))["status"] == "completed"
    got = await client.get(f"/v1/partners/{partner['id']}", headers=vendor)
    assert got.json()["status"] == "active"


async def test_contacts_added_through_the_contacts_part(client, vendor):
    await create_template(client, vendor, activates_partner=False, tasks=[
        {"key": "contacts", "title": "Add two contacts", "kind": "contacts_added",
         "params": {"contacts": 2}}])
    partner, _ = await started(client, vendor)
    url = f"/v1/partners/{partner['id']}/contacts"
    for name in ("Priya Raman", "Tom Berg"):
        added = await client.post(url, json={
            "name": name, "email": f"{name.split()[0].lower()}@acme.example"}, headers=vendor)
        assert added.status_code == 201, added.text
        # the contact's creation completes what its count satisfies: the read only shows it
        assert len(await emitted(client, partner["id"], "prm.partner.onboarding_completed.v1")
                   ) == (1 if name == "Tom Berg" else 0)
        body = await plan(client, partner["id"], vendor)
        assert body["status"] == ("completed" if name == "Tom Berg" else "open")


# Progress, announced

PROGRESS = "prm.partner.onboarding_progress.v1"


async def progress(client, partner_id) -> list[dict]:
    return [e.data for e in await emitted(client, partner_id, PROGRESS)]


def due(plan_json) -> list[dict]:
    """The progress event's tasks due, as the plan read through the API says they are."""
    return [{"task_id": t["id"], "title": t["title"],
             "due_on": dt.datetime.fromisoformat(t["due_at"]).astimezone(dt.UTC).date()
             .isoformat() if t["due_at"] else None}
            for t in plan_json["tasks"] if t["status"] != "done"]


async def test_a_plan_started_and_its_tasks_done_are_announced(client, vendor, as_partner):
    await create_template(client, vendor)
    partner, created = await started(client, vendor)
    pid = uuid.UUID(partner["id"])
    body = await plan(client, pid, vendor)
    [first] = await progress(client, pid)
    assert (first["partner_id"], first["plan_id"]) == (str(pid), body["id"])
    assert (first["tasks_total"], first["tasks_done"], first["version"]) == (4, 0, 1)
    # soonest due first, the task without a date last
    assert first["tasks_due"] == due(body)
    assert [t["title"] for t in first["tasks_due"]] == [
        "Sign the reseller agreement", "Earn SALES-101", "Register a first deal",
        "Kick-off call"]
    assert first["tasks_due"][0]["due_on"] == (created.time + dt.timedelta(days=14)).date(
        ).isoformat()
    assert first["tasks_due"][-1]["due_on"] is None

    # a task completed by an event; a fact no task waits for and a redelivery announce nothing
    cert = certified(pid)
    await apply(client, created, cert, cert, certified(pid, code="OTHER-1"))
    [_, second] = await progress(client, pid)
    assert (second["tasks_done"], second["version"]) == (1, 2)
    assert second["tasks_due"] == due(await plan(client, pid, vendor))
    assert "Earn SALES-101" not in [t["title"] for t in second["tasks_due"]]

    # by hand
    kick_off = by_key(body)["kick-off"]["id"]
    done = await client.post(f"/v1/partners/{pid}/onboarding/tasks/{kick_off}/complete",
                             headers=as_partner(partner["id"]))
    assert done.status_code == 200, done.text
    third = (await progress(client, pid))[-1]
    assert (third["tasks_done"], third["version"]) == (2, 3)
    assert third["tasks_due"] == due(done.json())

    # the last tasks: the plan completes, announced once, then its progress
    await apply(client, signed(pid), registered(pid))
    last = (await progress(client, pid))[-1]
    assert (last["tasks_total"], last["tasks_done"], last["tasks_due"], last["version"]) == (
        4, 4, [], 5)
    types = (await client.connection.execute(text(
        "SELECT event_type FROM outbox WHERE key = :k ORDER BY seq"),
        {"k": str(pid)})).scalars().all()
    assert types.index("prm.partner.onboarding_completed.v1") < len(types) - 1 - \
        types[::-1].index(PROGRESS)
    assert len(await progress(client, pid)) == 5


async def test_several_tasks_done_at_once_are_one_announcement(client, vendor, monkeypatch):
    await create_template(client, vendor)
    partner = await create_partner(client, vendor)
    pid = uuid.UUID(partner["id"])
    [created] = await emitted(client, pid, "prm.partner.created.v1")
    # what the partner did before its plan: nothing to announce without a plan
    await apply(client, signed(pid), certified(pid), registered(pid))
    assert await progress(client, pid) == []
    # the plan starts with three tasks done: one event says so
    await apply(client, created)
    [started_with] = await progress(client, pid)
    assert (started_with["tasks_total"], started_with["tasks_done"]) == (4, 3)
    assert [t["title"] for t in started_with["tasks_due"]] == ["Kick-off call"]

    # two contacts tasks satisfied by one check: one event
    await create_template(client, vendor, activates_partner=False, tasks=[
        {"key": "one", "title": "Add a contact", "kind": "contacts_added",
         "params": {"contacts": 1}, "due_in_days": 7},
        {"key": "two", "title": "Add two contacts", "kind": "contacts_added",
         "params": {"contacts": 2}, "due_in_days": 7},
        {"key": "kick-off", "title": "Kick-off call", "kind": "manual"}])
    other, _ = await started(client, vendor)
    assert len(await progress(client, other["id"])) == 1

    async def contact_count(session, partner_id):
        return 2

    monkeypatch.setattr(service, "_contact_count", contact_count)
    async with AsyncSession(bind=client.connection, expire_on_commit=False,
                            join_transaction_mode="create_savepoint") as session:
        assert await service.check_contacts(session) >= 1
        await session.commit()
    [_, checked] = await progress(client, other["id"])
    assert (checked["tasks_done"], checked["version"]) == (2, 2)
    assert [t["title"] for t in checked["tasks_due"]] == ["Kick-off call"]


async def test_the_tasks_due_are_the_twenty_soonest(client, vendor):
    tasks = [{"key": f"t{i:02}", "title": f"Task {i}", "kind": "manual",
              **({"due_in_days": 40 - (i % 7) * 5} if i % 3 else {})} for i in range(30)]
    await create_template(client, vendor, tasks=tasks)
    partner, _ = await started(client, vendor)
    [first] = await progress(client, partner["id"])
    assert first["tasks_total"] == 30 and len(first["tasks_due"]) == 20
    in_order = sorted(tasks, key=lambda t: (t.get("due_in_days") is None,
                                            t.get("due_in_days", 0), t["key"]))
    assert [t["title"] for t in first["tasks_due"]] == [t["title"] for t in in_order[:20]]


async def test_progress_versions_grow_across_a_partners_plans(client, vendor):
    await create_template(client, vendor, activates_partner=False, tasks=[
        {"key": "kick-off", "title": "Kick-off call", "kind": "manual"}])
    partner, created = await started(client, vendor)
    first = await plan(client, partner["id"], vendor)
    await client.post(f"/v1/partners/{partner['id']}/onboarding/tasks/"
                      f"{first['tasks'][0]['id']}/complete", headers=vendor)
    url = f"/v1/partners/{partner['id']}"
    await client.post(f"{url}/offboard", json={"reason": "left"}, headers=vendor)
    await client.post(f"{url}/reinstate", json={"reason": "back"}, headers=vendor)
    await apply(client, *await emitted(client, partner["id"], "prm.partner.status_changed.v1"))
    second = await plan(client, partner["id"], vendor)
    announced = await progress(client, partner["id"])
    assert [(e["plan_id"], e["tasks_done"], e["version"]) for e in announced] == [
        (first["id"], 0, 1), (first["id"], 1, 2), (second["id"], 0, 3)]
