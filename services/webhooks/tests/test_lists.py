"""Every list of the service speaks the one grammar, and each of its filters, ranges, sorts,
searches and change feeds is served by an index; the endpoint, message and attempt lists on
real rows."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from prm_contracts import PartnerSnapshot, PartnerUpdatedV1
from prm_events.envelope import new_event
from prm_platform.ids import new_id
from prm_stack.testing import check_lists_use_indexes, list_routes

LISTS = {"/v1/webhook-endpoints", "/v1/webhook-endpoints/{endpoint_id}/attempts",
         "/v1/webhook-messages", "/v1/webhook-messages/{message_id}/attempts"}
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)  # before any now() of the tests


def at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_every_list_declares_the_grammar(app):
    assert set(list_routes(app)) == LISTS


async def test_every_filter_sort_and_search_is_served_by_an_index(app, engine):
    checked = await check_lists_use_indexes(app, engine)
    assert {"enabled", "partner_id", "event_types", "created_at[gte]", "updated_since", "q",
            "sort=description"} <= set(checked["/v1/webhook-endpoints"])
    assert {"event_type", "endpoint_id", "status", "created_at[gte]"} <= set(
        checked["/v1/webhook-messages"])
    for attempts in ("/v1/webhook-endpoints/{endpoint_id}/attempts",
                     "/v1/webhook-messages/{message_id}/attempts"):
        assert {"outcome", "response_status", "attempted_at[gte]"} <= set(checked[attempts])


async def walk(client, url: str, headers: dict, params: dict, limit: int) -> list[dict]:
    """Every page of a list, following next_cursor."""
    seen: list[dict] = []
    cursor = None
    for _ in range(50):
        page = await client.get(url, headers=headers, params={
            **params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= limit
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


async def name_partner(client, partner_id: uuid.UUID, name: str) -> None:
    await client.connection.execute(text(
        "INSERT INTO partner_directory (partner_id, name, version) VALUES (:id, :name, 1)"),
        {"id": partner_id, "name": name})


# -- endpoints ------------------------------------------------------------------------------


@pytest.fixture
async def endpoints(client, vendor, as_partner, create_endpoint):
    """Five endpoints: three of the vendor, one of each of two partners (the first named in
    the directory), created a minute apart and changed at chosen times."""
    acme, globex = uuid.uuid4(), uuid.uuid4()
    await name_partner(client, acme, "Acme Cloud GmbH")
    specs = [
        (vendor, "https://crm.vendor.example/hooks", "Intégration Müller CRM", ["deal.*"]),
        (vendor, "https://erp.vendor.example/in", "ERP billing", ["incentive.*"]),
        (vendor, "https://lms.vendor.example/in", "academy sync", []),
        (as_partner(acme), "https://hooks.acme.example/prm", "Acme deals", ["deal.approved"]),
        (as_partner(globex), "https://globex.example/in", "Globex", ["partner.*"]),
    ]
    made = []
    for i, (headers, url, description, filters) in enumerate(specs):
        made.append(await create_endpoint(client, headers, url, description=description,
                                          event_types=filters))
        await client.connection.execute(text(
            "UPDATE webhook_endpoints SET created_at = :created, updated_at = :updated "
            "WHERE id = :id"), {"id": made[-1]["id"], "created": T0 + dt.timedelta(minutes=i),
                                "updated": T0 + dt.timedelta(minutes=10 - 2 * i)})
    await client.connection.execute(text(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'gone' WHERE id = :id"),
        {"id": made[1]["id"]})
    return made, acme, globex


async def test_endpoint_filters_take_several_values(client, vendor, endpoints):
    made, acme, globex = endpoints

    async def ids(**params) -> list[str]:
        answer = await client.get("/v1/webhook-endpoints", headers=vendor, params=params)
        assert answer.status_code == 200, answer.text
        return [e["id"] for e in answer.json()["items"]]

    names = {e["id"]: i for i, e in enumerate(made)}
    assert [names[i] for i in await ids(partner_id=f"{acme},{globex}")] == [3, 4]
    assert [names[i] for i in await ids(enabled="false")] == [1]
    assert [names[i] for i in await ids(disabled_reason="gone")] == [1]
    assert [names[i] for i in await ids(enabled=["true"], partner_id=str(globex))] == [4]
    # As the endpoint keeps them: "deal.*" is "prm.deal.*".
    assert [names[i] for i in await ids(event_types="deal.*,prm.partner.*")] == [0, 4]
    assert [names[i] for i in await ids(**{"created_at[gte]": at(1),
                                           "created_at[lt]": at(3)})] == [1, 2]
    counted = await client.get("/v1/webhook-endpoints", headers=vendor,
                               params={"enabled": "true", "include": "total_count",
                                       "limit": 1})
    assert counted.json()["total_count"] == 4
    bad = await client.get("/v1/webhook-endpoints", headers=vendor,
                           params={"disabled_reason": "tired"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["disabled_reason"]


async def test_endpoint_search_ignores_case_and_accents(client, vendor, endpoints):
    made, _, _ = endpoints

    async def found(q: str) -> list[str]:
        answer = await client.get("/v1/webhook-endpoints", headers=vendor, params={"q": q})
        assert answer.status_code == 200, answer.text
        return [e["description"] for e in answer.json()["items"]]

    assert await found("MULLER integration") == ["Intégration Müller CRM"]
    assert await found("vendor.example/in") == ["ERP billing", "academy sync"]  # the URL
    assert await found("ACME") == ["Acme deals"]
    assert await found("müller erp") == []


async def test_endpoint_sort_pages_through_in_order(client, vendor, endpoints):
    made, _, _ = endpoints
    ascending = await walk(client, "/v1/webhook-endpoints", vendor,
                           {"sort": "description"}, limit=2)
    expected = sorted(e["description"] for e in made)
    assert [e["description"] for e in ascending] == expected
    descending = await walk(client, "/v1/webhook-endpoints", vendor,
                            {"sort": "-description"}, limit=2)
    assert [e["description"] for e in descending] == expected[::-1]
    newest = await walk(client, "/v1/webhook-endpoints", vendor, {"sort": "-created_at"}, 3)
    assert [e["id"] for e in newest] == [e["id"] for e in made][::-1]


async def test_endpoint_changes_feed_oldest_first(client, vendor, endpoints):
    made, _, _ = endpoints
    # updated_at: 10, 8, 6, 4, 2 minutes after T0; the first is changed now (later).
    changed = await client.patch(f"/v1/webhook-endpoints/{made[0]['id']}",
                                 headers={**vendor, "If-Match": '"1"'},
                                 json={"description": "CRM"})
    assert changed.status_code == 200, changed.text
    fed = await walk(client, "/v1/webhook-endpoints", vendor, {"updated_since": at(5)}, 1)
    assert [e["id"] for e in fed] == [made[2]["id"], made[1]["id"], made[0]["id"]]
    assert fed[-1]["description"] == "CRM"


async def test_a_partner_key_sees_only_its_org_whatever_it_asks(client, as_partner,
                                                                endpoints):
    made, acme, globex = endpoints
    headers = as_partner(acme)
    for params in ({}, {"partner_id": f"{acme},{globex}"}, {"q": "globex"},
                   {"id": made[4]["id"]}, {"updated_since": at(0)}):
        answer = await client.get("/v1/webhook-endpoints", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        assert {e["partner_id"] for e in answer.json()["items"]} <= {str(acme)}
    own = (await client.get("/v1/webhook-endpoints", headers=headers)).json()["items"]
    assert [e["id"] for e in own] == [made[3]["id"]]


async def test_endpoints_show_their_partners_name(client, vendor, as_partner, endpoints):
    made, acme, _ = endpoints
    listed = (await client.get("/v1/webhook-endpoints", headers=vendor)).json()["items"]
    assert [e["partner_name"] for e in listed] == [None, None, None, "Acme Cloud GmbH", None]
    read = await client.get(f"/v1/webhook-endpoints/{made[3]['id']}", headers=as_partner(acme))
    assert read.json()["partner_name"] == "Acme Cloud GmbH"


async def test_the_worker_keeps_the_newest_name_of_each_partner(consume_as_worker,
                                                                  sessionmaker):
    partner = uuid.uuid4()

    def renamed(name: str, version: int):
        snapshot = PartnerSnapshot(id=partner, name=name, type="msp", country="DE",
                                   status="active", version=version)
        return new_event(PartnerUpdatedV1(partner=snapshot, changed=["name"]),
                         source="/prm/partners", subject=str(partner), partner_id=partner)

    try:
        await consume_as_worker(renamed("Initech", 2), renamed("Initrode", 1))
        async with sessionmaker() as session:
            names = (await session.execute(text(
                "SELECT name FROM partner_directory WHERE partner_id = :id"),
                {"id": partner})).scalars().all()
        assert names == ["Initech"]  # the older snapshot, arriving late, is not taken
    finally:
        async with sessionmaker.begin() as session:
            await session.execute(text("DELETE FROM partner_directory WHERE partner_id = :id"),
                                  {"id": partner})


# -- messages and attempts ------------------------------------------------------------------


async def add_message(client, event_type: str, partner_id: uuid.UUID | None, minute: int,
                      deliveries: dict[str, str]) -> str:
    """A message created ``minute`` after T0, with a delivery in the given status to each
    endpoint."""
    message_id = new_id()
    created = T0 + dt.timedelta(minutes=minute)
    await client.connection.execute(text(
        "INSERT INTO webhook_messages (id, event_type, partner_id, ordering_key, payload, "
        "created_at) VALUES (:id, :type, :partner, 'k', '{}', :at)"),
        {"id": message_id, "type": event_type, "partner": partner_id, "at": created})
    for endpoint_id, status in deliveries.items():
        await client.connection.execute(text(
            "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, ordering_key, status, "
            "attempts, next_attempt_at, created_at, updated_at) "
            "VALUES (:id, :message, :endpoint, 'k', :status, 1, :at, :at, :at)"),
            {"id": new_id(), "message": message_id, "endpoint": endpoint_id,
             "status": status, "at": created})
    return str(message_id)


async def add_attempt(client, message_id: str, endpoint_id: str, minute: int, outcome: str,
                      status: int | None) -> str:
    attempt_id = new_id()
    await client.connection.execute(text(
        "INSERT INTO webhook_attempts (id, delivery_id, message_id, endpoint_id, attempted_at, "
        "outcome, response_status, latency_ms) SELECT :id, d.id, d.message_id, d.endpoint_id, "
        ":at, :outcome, :status, 40 FROM webhook_deliveries d "
        "WHERE d.message_id = :message AND d.endpoint_id = :endpoint"),
        {"id": attempt_id, "message": message_id, "endpoint": endpoint_id,
         "at": T0 + dt.timedelta(minutes=minute), "outcome": outcome, "status": status})
    return str(attempt_id)


@pytest.fixture
async def messages(client, endpoints):
    """Messages to the vendor's CRM endpoint and Acme's: each with its deliveries' statuses."""
    made, acme, _ = endpoints
    crm, acme_hook = made[0]["id"], made[3]["id"]
    return acme, crm, acme_hook, [
        await add_message(client, "prm.deal.approved.v1", acme, 0,
                          {crm: "succeeded", acme_hook: "failed"}),
        await add_message(client, "prm.deal.registered.v1", acme, 1,
                          {crm: "failed", acme_hook: "succeeded"}),
        await add_message(client, "prm.incentive.accrued.v1", None, 2, {crm: "pending"}),
        await add_message(client, "prm.deal.approved.v1", acme, 3,
                          {crm: "succeeded", acme_hook: "pending"}),
    ]


async def test_message_filters(client, vendor, messages):
    acme, crm, acme_hook, ids = messages

    async def found(headers=vendor, **params) -> list[int]:
        answer = await client.get("/v1/webhook-messages", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return [ids.index(m["id"]) for m in answer.json()["items"]]

    assert await found(event_type="prm.deal.approved.v1,prm.incentive.accrued.v1") == [0, 2, 3]
    assert await found(event_type=["prm.deal.registered.v1"], partner_id=str(acme)) == [1]
    assert await found(status="failed") == [0, 1]
    assert await found(status="pending,failed", endpoint_id=crm) == [1, 2]
    # One delivery both to these endpoints and in these statuses: not one of each.
    assert await found(status="failed", endpoint_id=crm) == [1]
    assert await found(status="succeeded", endpoint_id=acme_hook) == [1]
    assert await found(**{"created_at[gte]": at(1), "created_at[lt]": at(3)}) == [1, 2]
    assert await found(sort="-created_at", limit=2) == [3, 2]
    listed = (await client.get("/v1/webhook-messages", headers=vendor)).json()["items"]
    assert [m["partner_name"] for m in listed] == ["Acme Cloud GmbH"] * 2 + [None] + [
        "Acme Cloud GmbH"]


async def test_a_partner_key_sees_messages_only_through_its_own_deliveries(
        client, as_partner, messages):
    acme, crm, acme_hook, ids = messages
    headers = as_partner(acme)

    async def found(**params) -> list[int]:
        answer = await client.get("/v1/webhook-messages", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        assert {d["endpoint_id"] for m in items for d in m["deliveries"]} <= {acme_hook}
        return [ids.index(m["id"]) for m in items]

    assert await found() == [0, 1, 3]
    # The vendor's endpoint and its deliveries' statuses say nothing to the partner.
    assert await found(endpoint_id=crm) == []
    assert await found(status="failed") == [0]
    assert await found(status="pending", event_type="prm.deal.approved.v1") == [3]


async def test_attempt_filters_ranges_and_newest_first(client, vendor, as_partner, messages):
    acme, crm, acme_hook, ids = messages
    attempts = [
        await add_attempt(client, ids[0], crm, 0, "failed", 503),
        await add_attempt(client, ids[0], crm, 1, "failed", None),
        await add_attempt(client, ids[0], crm, 2, "succeeded", 204),
        await add_attempt(client, ids[0], acme_hook, 3, "failed", 429),
        await add_attempt(client, ids[1], crm, 4, "failed", 429),
    ]
    of_crm = f"/v1/webhook-endpoints/{crm}/attempts"

    async def found(url: str, headers=vendor, **params) -> list[int]:
        answer = await client.get(url, headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return [attempts.index(a["id"]) for a in answer.json()["items"]]

    assert await found(of_crm) == [0, 1, 2, 4]
    assert await found(of_crm, outcome="failed") == [0, 1, 4]
    assert await found(of_crm, response_status="503,429") == [0, 4]
    assert await found(of_crm, message_id=ids[1]) == [4]
    assert await found(of_crm, **{"attempted_at[gt]": at(0), "attempted_at[lte]": at(2)}) == [
        1, 2]
    newest = await walk(client, of_crm, vendor, {"sort": "-created_at"}, limit=3)
    assert [attempts.index(a["id"]) for a in newest] == [4, 2, 1, 0]
    of_message = f"/v1/webhook-messages/{ids[0]}/attempts"
    assert await found(of_message) == [0, 1, 2, 3]
    assert await found(of_message, endpoint_id=acme_hook, outcome="failed,succeeded") == [3]
    assert await found(of_message, response_status="429") == [3]
    # A partner sees its own endpoint's attempts only, whatever it asks.
    assert await found(of_message, headers=as_partner(acme)) == [3]
    assert await found(of_message, headers=as_partner(acme), endpoint_id=crm) == []
    bad = await client.get(of_crm, headers=vendor, params={"response_status": "99"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["response_status"]
