"""Object-level authorisation of the onboarding routes (collected by test_authorisation.py):
org B's key reaches none of org A's plans and tasks, and no partner key changes templates."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_events.envelope import CloudEvent
from prm_partners.onboarding.handlers import HANDLERS

TEMPLATE = {"name": "Everyone", "partner_types": [], "activates_partner": False, "tasks": [
    {"key": "kick-off", "title": "Kick-off call", "kind": "manual", "due_in_days": 0},
    {"key": "agreement", "title": "Sign", "kind": "agreement_signed",
     "params": {"agreement": "reseller-agreement"}}]}


async def template(client, vendor) -> dict:
    response = await client.post("/v1/onboarding-templates", json=TEMPLATE, headers=vendor)
    assert response.status_code == 201
    return response.json()


async def plan_of_a(client, a, vendor) -> dict:
    """A back in onboarding (offboarded, reinstated), its plan started by the worker's
    handler from the status change it emitted."""
    await template(client, vendor)
    url = f"/v1/partners/{a[0]['id']}"
    await client.post(f"{url}/offboard", json={"reason": "test"}, headers=vendor)
    await client.post(f"{url}/reinstate", json={"reason": "test"}, headers=vendor)
    envelope = (await client.connection.execute(text(
        "SELECT envelope FROM outbox WHERE key = :k ORDER BY seq DESC LIMIT 1"),
        {"k": a[0]["id"]})).scalar_one()
    event = CloudEvent.model_validate(envelope)
    async with AsyncSession(bind=client.connection, expire_on_commit=False,
                            join_transaction_mode="create_savepoint") as session:
        await HANDLERS[event.type](session, event)
        await session.commit()
    response = await client.get(f"{url}/onboarding", headers=vendor)
    assert response.status_code == 200
    return response.json()


async def state(client, partner_id):
    """What a refused request must leave as it was: the org's tasks and its events."""
    tasks = (await client.connection.execute(text(
        "SELECT count(*) FILTER (WHERE completed_at IS NOT NULL) FROM onboarding_tasks "
        "WHERE partner_id = :p"), {"p": partner_id})).scalar_one()
    events = (await client.connection.execute(text(
        "SELECT count(*) FROM outbox WHERE key = :k"), {"k": str(partner_id)})).scalar_one()
    return tasks, events


async def create_template(client, a, b, vendor):
    response = await client.post("/v1/onboarding-templates", json=TEMPLATE, headers=b[1])
    assert response.status_code == 403  # programme:write is the vendor's


async def list_templates(client, a, b, vendor):
    made = await template(client, vendor)
    seen = await client.get("/v1/onboarding-templates", headers=b[1])
    assert seen.status_code == 200  # the programme's set-up, readable by partners
    assert made["id"] in [t["id"] for t in seen.json()["items"]]


async def get_template(client, a, b, vendor):
    made = await template(client, vendor)
    got = await client.get(f"/v1/onboarding-templates/{made['id']}", headers=b[1])
    assert got.status_code == 200


async def update_template(client, a, b, vendor):
    made = await template(client, vendor)
    url = f"/v1/onboarding-templates/{made['id']}"
    assert (await client.patch(url, json={"name": "Mine"}, headers=b[1])).status_code == 403
    assert (await client.get(url, headers=vendor)).json()["version"] == 1


async def delete_template(client, a, b, vendor):
    made = await template(client, vendor)
    url = f"/v1/onboarding-templates/{made['id']}"
    assert (await client.delete(url, headers=b[1])).status_code == 403
    assert (await client.get(url, headers=vendor)).status_code == 200


async def get_plan(client, a, b, vendor):
    await plan_of_a(client, a, vendor)
    hidden = await client.get(f"/v1/partners/{a[0]['id']}/onboarding", headers=b[1])
    assert hidden.status_code == 404
    assert (await client.get(f"/v1/partners/{a[0]['id']}/onboarding",
                             headers=a[1])).status_code == 200


async def complete_task(client, a, b, vendor):
    plan = await plan_of_a(client, a, vendor)
    task_id = plan["tasks"][0]["id"]  # the manual one, which A's own key may complete
    before = await state(client, a[0]["id"])
    other = await client.post(f"/v1/partners/{a[0]['id']}/onboarding/tasks/{task_id}/complete",
                              headers=b[1])
    assert other.status_code == 404
    through_own = await client.post(
        f"/v1/partners/{b[0]['id']}/onboarding/tasks/{task_id}/complete", headers=b[1])
    assert through_own.status_code == 404
    assert await state(client, a[0]["id"]) == before
    own = await client.post(f"/v1/partners/{a[0]['id']}/onboarding/tasks/{task_id}/complete",
                            headers=a[1])
    assert own.status_code == 200


async def list_tasks(client, a, b, vendor):
    plan = await plan_of_a(client, a, vendor)
    for query in ("", "?status=overdue", f"?partner_id={a[0]['id']}"):
        seen = await client.get(f"/v1/onboarding-tasks{query}", headers=b[1])
        assert seen.status_code == 200
        assert seen.json()["items"] == []
    all_of_them = (await client.get(f"/v1/onboarding-tasks?partner_id={a[0]['id']}",
                                    headers=vendor)).json()["items"]
    assert {t["id"] for t in all_of_them} == {t["id"] for t in plan["tasks"]}


CASES = {
    ("POST", "/v1/onboarding-templates"): create_template,
    ("GET", "/v1/onboarding-templates"): list_templates,
    ("GET", "/v1/onboarding-templates/{template_id}"): get_template,
    ("PATCH", "/v1/onboarding-templates/{template_id}"): update_template,
    ("DELETE", "/v1/onboarding-templates/{template_id}"): delete_template,
    ("GET", "/v1/partners/{partner_id}/onboarding"): get_plan,
    ("POST", "/v1/partners/{partner_id}/onboarding/tasks/{task_id}/complete"): complete_task,
    ("GET", "/v1/onboarding-tasks"): list_tasks,
}
