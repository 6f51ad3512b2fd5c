import asyncio
import uuid

import httpx
import pytest

from prm_platform.security import Principal, PrincipalKind, sign_principal

from .helpers import MAX_BODY, assert_problem, dead_url, issue_key, known_partner

NEW = {"name": "Acme Cloud GmbH", "type": "msp", "country": "DE"}


async def create_partner(gateway, headers, **overrides):
    response = await gateway.post("/v1/partners", json={**NEW, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_partner_key_reaches_only_its_own_org(gateway, admin, prm_infra):
    own = await create_partner(gateway, admin, name="Own")
    other = await create_partner(gateway, admin, name="Other")
    # As the gateway's worker would have it from the partner's creation event.
    await known_partner(gateway, own["id"], status=own["status"])
    key = (await gateway.post("/v1/api-keys", headers=admin, json={
        "name": "Own PSA", "kind": "partner", "partner_id": own["id"]})).json()["key"]
    partner = {"Authorization": f"Bearer {key}"}

    assert (await gateway.get(f"/v1/partners/{own['id']}", headers=partner)).json()["name"] \
        == "Own"
    assert_problem(await gateway.get(f"/v1/partners/{other['id']}", headers=partner),
                   404, "not-found")
    listed = (await gateway.get("/v1/partners", headers=partner)).json()
    assert [p["id"] for p in listed["items"]] == [own["id"]]
    # A principal header from the client is never passed on, even one with a valid signature.
    forged = sign_principal(Principal(subject="x", kind=PrincipalKind.vendor,
                                      scopes=frozenset({"admin"})), prm_infra.internal_secret)
    assert_problem(await gateway.get(f"/v1/partners/{other['id']}",
                                     headers={**partner, "X-PRM-Principal": forged}),
                   404, "not-found")
    # A partner key holds no partners:write by default: refused at the gateway.
    assert_problem(await gateway.patch(f"/v1/partners/{own['id']}", json={"name": "X"},
                                       headers=partner), 403, "forbidden")


async def test_partner_key_with_write_scope_is_still_checked_by_the_service(gateway, admin):
    own = await create_partner(gateway, admin, name="Own")
    other = await create_partner(gateway, admin, name="Other")
    partner = await issue_key(gateway, kind="partner", partner_id=own["id"],
                              scopes=["partners:read", "partners:write"])
    renamed = await gateway.patch(f"/v1/partners/{own['id']}", json={"name": "Own 2"},
                                  headers=partner)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Own 2"
    assert_problem(await gateway.patch(f"/v1/partners/{other['id']}", json={"name": "Mine"},
                                       headers=partner), 404, "not-found")
    assert_problem(await gateway.post("/v1/partners", json=NEW, headers=partner),
                   403, "forbidden")


async def test_headers_travel_both_ways(gateway, admin):
    headers = {**admin, "Idempotency-Key": "partner-1", "X-Request-Id": "req-42"}
    created = await gateway.post("/v1/partners", json=NEW, headers=headers)
    replayed = await gateway.post("/v1/partners", json=NEW, headers=headers)
    assert created.status_code == replayed.status_code == 201
    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == f"/v1/partners/{created.json()['id']}"
    assert created.headers["x-request-id"] == "req-42"
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["id"] == created.json()["id"]
    assert "authorization" not in created.headers and "x-prm-principal" not in created.headers

    url = created.headers["location"]
    stale = await gateway.patch(url, json={"name": "New"}, headers={**admin, "If-Match": '"9"'})
    assert_problem(stale, 412, "precondition-failed")
    ok = await gateway.patch(url, json={"name": "New"}, headers={**admin, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    assert uuid.UUID(ok.headers["x-request-id"], version=4)  # generated when absent

    listed = await gateway.get("/v1/partners?country=FR&limit=1", headers=admin)
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert_problem(await gateway.get("/v1/partners?limit=0", headers=admin),
                   422, "validation-error")


async def test_scope_is_checked_at_the_gateway(gateway):
    deals_only = await issue_key(gateway, scopes=["deals:read"])
    for method, path in (("GET", "/v1/partners"), ("GET", f"/v1/partners/{uuid.uuid4()}"),
                         ("POST", "/v1/partners"), ("POST", "/v1/deals")):
        response = await gateway.request(method, path, headers=deals_only, json=NEW)
        assert_problem(response, 403, "forbidden")


async def test_big_bodies_are_refused(gateway, admin):
    big = {**NEW, "name": "x" * MAX_BODY}
    assert_problem(await gateway.post("/v1/partners", json=big, headers=admin),
                   413, "payload-too-large")

    async def chunks():  # no Content-Length: the limit is counted while reading
        for _ in range(MAX_BODY // 1024 + 1):
            yield b" " * 1024

    chunked = await gateway.post("/v1/partners", content=chunks(),
                                 headers={**admin, "Content-Type": "application/json"})
    assert_problem(chunked, 413, "payload-too-large")


async def test_unreachable_upstream_is_503(start_gateway):
    gateway = await start_gateway(upstreams={}, upstream_urls={"partners": dead_url()})
    admin = await issue_key(gateway)
    response = await gateway.get("/v1/partners", headers=admin)
    body = assert_problem(response, 503, "service-unavailable")
    assert "partners" in body["detail"] and "Traceback" not in response.text
    assert response.headers["retry-after"] == "1"


async def test_upstream_timeout_is_503(start_gateway):
    async def never_answer(reader, writer):
        await reader.read(1 << 16)
        await asyncio.sleep(10)
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gateway = await start_gateway(upstreams={},
                                      upstream_urls={"partners": f"http://127.0.0.1:{port}"},
                                      upstream_timeout=0.3)
        admin = await issue_key(gateway)
        assert_problem(await gateway.get("/v1/partners", headers=admin), 503,
                       "service-unavailable")
    finally:
        server.close()


async def test_deals_are_proxied(gateway, admin):
    response = await gateway.get("/v1/deals", headers=admin)
    assert response.status_code == 200, response.text
    assert "items" in response.json()
    own = await create_partner(gateway, admin)
    partner = await issue_key(gateway, kind="partner", partner_id=own["id"],
                              scopes=["deals:read"])
    assert (await gateway.get("/v1/deals", headers=partner)).status_code == 200
    assert_problem(await gateway.post("/v1/deals", json={}, headers=partner), 403, "forbidden")


@pytest.mark.parametrize("path", ["/v1/partnersx", "/v1/partners-archive"])
async def test_prefixes_match_whole_segments(gateway, admin, path):
    assert_problem(await gateway.get(path, headers=admin), 404, "not-found")


class StaleOnce(httpx.AsyncBaseTransport):
    """The first request finds the pooled connection closed by the service."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport, self.failures = transport, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failures == 0:
            self.failures += 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                            request=request)
        return await self.transport.handle_async_request(request)


@pytest.mark.parametrize("method, idempotent, expected", [
    ("GET", False, 200), ("POST", True, 201), ("POST", False, 503)])
async def test_a_stale_pooled_connection_is_retried_once_when_safe(start_gateway, transports,
                                                                  method, idempotent, expected):
    flaky = StaleOnce(transports["partners"])
    gateway = await start_gateway(upstreams={**transports, "partners": flaky})
    admin = await issue_key(gateway)
    headers = {**admin, **({"Idempotency-Key": str(uuid.uuid4())} if idempotent else {})}
    response = await gateway.request(method, "/v1/partners", headers=headers,
                                     json=NEW if method == "POST" else None)
    assert response.status_code == expected, response.text


async def test_an_event_stream_is_passed_on_with_its_resume_point(start_gateway, transports,
                                                                  admin):
    """A server-sent events stream (the portal's notifications) goes through as a stream: its
    chunks, its headers, and the client's Last-Event-ID on the way in."""
    seen: list[httpx.Request] = []

    async def chunks():
        yield b"retry: 2000\n\n"
        yield b'id: 7.1\nevent: notification\ndata: {"id": "n"}\n\n'

    def portal(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=chunks(), headers={
            "content-type": "text/event-stream", "cache-control": "no-store",
            "x-accel-buffering": "no"})

    gateway = await start_gateway(upstreams={**transports,
                                             "portal": httpx.MockTransport(portal)})
    key = await issue_key(gateway, scopes=["portal:read"])
    response = await gateway.get("/v1/notifications/stream", headers={
        **key, "Accept": "text/event-stream", "Last-Event-ID": "6.9"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.text == 'retry: 2000\n\nid: 7.1\nevent: notification\ndata: {"id": "n"}\n\n'
    assert seen[0].headers["last-event-id"] == "6.9"
    assert "x-prm-principal" in seen[0].headers
    unreadable = await gateway.get("/v1/notifications/stream", headers={
        **key, "Accept": "text/event-stream", "Last-Event-ID": b"6.9\xe9"})
    assert unreadable.status_code == 400
