"""Inputs that once answered 5xx, leaked an address or slipped past a rule, through the gateway
to the real services (in-process, on the real PostgreSQL). Each gets a 4xx problem now."""

import json

import pytest

from .helpers import assert_problem, issue_key

NEW = {"name": "Acme Cloud GmbH", "type": "msp", "country": "DE"}


@pytest.mark.parametrize("name", ["\u0093\u0000", "Acme\u0007", "Acme\u001b[31m", "A\u009bB",
                                  "del\u007f"])
async def test_control_characters_are_refused_naming_the_field(gateway, admin, name):
    response = await gateway.post("/v1/partners", headers=admin,
                                  json={**NEW, "name": name, "country": "SC"})
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{"location": "body", "field": "name",
                               "message": "control characters are not allowed"}]


async def test_control_characters_in_nested_fields_and_keys(gateway, admin):
    deal = {"partner_id": "01a20315-51b6-758f-abe1-fc0c13fa0bf9",
            "customer": {"name": "Glo\u0000bex", "domain": "globex.example", "country": "US"},
            "amount": {"amount": "10.00", "currency": "USD"}, "expected_close_date": "2031-01-01",
            "notes": "line one\nline two\ttabbed"}
    body = assert_problem(await gateway.post("/v1/deals", headers=admin, json=deal), 422,
                          "validation-error")
    assert [e["field"] for e in body["errors"]] == ["customer.name"]  # \n and \t are fine
    body = assert_problem(await gateway.post("/v1/partners", headers=admin,
                                             json={**NEW, "bad\u0001key": 1}),
                          422, "validation-error")
    assert body["errors"][0]["message"] == "control characters are not allowed in keys"


async def test_lone_surrogate_is_malformed_json(gateway, admin):
    raw = b'{"name": "\\ud800", "type": "msp", "country": "DE"}'
    response = await gateway.post("/v1/partners", headers={
        **admin, "Content-Type": "application/json"}, content=raw)
    assert_problem(response, 400, "malformed-request")
    # The connection and the service are fine afterwards.
    assert (await gateway.get("/v1/partners", headers=admin)).status_code == 200


async def test_deep_nesting_with_an_idempotency_key(gateway, admin):
    deep = "[" * 1000 + "]" * 1000
    raw = json.dumps({**NEW}).encode()[:-1] + b', "extra": ' + deep.encode() + b"}"
    response = await gateway.post("/v1/partners", content=raw, headers={
        **admin, "Content-Type": "application/json", "Idempotency-Key": "deep-1"})
    body = assert_problem(response, 400, "malformed-request")
    assert "nested deeper" in body["detail"]


async def test_other_media_types_get_415(gateway, admin):
    response = await gateway.post("/v1/partners", headers={**admin, "Content-Type": "text/plain"},
                                  content=json.dumps(NEW))
    assert_problem(response, 415, "unsupported-media-type")
    vendor_json = await gateway.post("/v1/partners", json=NEW, headers={
        **admin, "Content-Type": "application/vnd.prm+json"})
    assert vendor_json.status_code == 201, vendor_json.text


@pytest.mark.parametrize("header", ["If-Match", "Accept", "traceparent", "Idempotency-Key"])
async def test_non_ascii_header_values_are_refused(gateway, admin, header):
    response = await gateway.post("/v1/partners", json=NEW, headers={
        **admin, header: "caf\u00e9".encode("latin-1")})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_trailing_slash_is_not_found_and_never_redirects(gateway, admin):
    for method, path in (("GET", "/v1/partners/"), ("POST", "/v1/deals/"),
                         ("GET", "/v1/api-keys/")):
        response = await gateway.request(method, path, headers=admin, json={})
        assert response.status_code in (404, 405), (path, response.status_code)
        assert "location" not in response.headers, path
        assert "127.0.0.1" not in response.text


@pytest.mark.parametrize("path", ["/v1/partners/%2e%2e/openapi.json",
                                  "/v1/partners/%2E%2E/%2e%2e/healthz",
                                  "/v1/deals/%2e/x"])
async def test_dot_segments_are_refused(gateway, admin, path):
    response = await gateway.get(path, headers=admin)
    assert_problem(response, 400, "malformed-request")


async def test_head_answers_like_get_without_a_body(gateway, admin):
    response = await gateway.head("/v1/partners", headers=admin)
    assert response.status_code == 200 and response.content == b""


async def test_a_key_cannot_revoke_a_more_powerful_key(gateway, admin):
    keys_only = await issue_key(gateway, scopes=["api_keys:read", "api_keys:write"])
    target = (await gateway.post("/v1/api-keys", headers=admin, json={
        "name": "another admin", "scopes": ["admin"]})).json()
    refused = await gateway.post(f"/v1/api-keys/{target['id']}/revoke", headers=keys_only)
    assert_problem(refused, 403, "forbidden")
    assert (await gateway.get(f"/v1/api-keys/{target['id']}", headers=admin)
            ).json()["status"] == "active"
    peer = (await gateway.post("/v1/api-keys", headers=admin, json={
        "name": "peer", "scopes": ["api_keys:read"]})).json()
    revoked = await gateway.post(f"/v1/api-keys/{peer['id']}/revoke", headers=keys_only)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"


async def test_field_errors_name_a_field(gateway, admin):
    response = await gateway.post("/v1/api-keys", headers=admin, json={
        "name": "x", "kind": "vendor", "scopes": ["deals:read"],
        "partner_id": "01a20315-51b6-758f-abe1-fc0c13fa0bf9"})
    body = assert_problem(response, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["(body)"]
    response = await gateway.post("/v1/api-keys", headers=admin, json={
        "name": "x", "scopes": ["deals:read", "no:such"]})
    fields = [e["field"] for e in assert_problem(response, 422, "validation-error")["errors"]]
    assert fields and all(f and not f.isdigit() for f in fields), fields
    assert "scopes[1]" in fields
    array_body = await gateway.post("/v1/partners", headers=admin, json=[NEW])
    fields = [e["field"] for e in assert_problem(array_body, 422, "validation-error")["errors"]]
    assert all(f and not f.isdigit() for f in fields), fields


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/v1/partners", "GET, POST"),
    ("DELETE", "/v1/partners/01a20315-51b6-758f-abe1-fc0c13fa0bf9", "GET, PATCH"),
    ("OPTIONS", "/v1/deals", "GET, POST"),
    ("PATCH", "/v1/api-keys", "GET, POST"),
])
async def test_405_lists_every_allowed_method(gateway, admin, method, path, allowed):
    response = await gateway.request(method, path, headers=admin)
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == allowed


async def test_a_chunked_body_over_the_limit_is_413(gateway, admin):
    async def chunks():
        for _ in range(64):
            yield b"x" * 32_768  # 2 MiB in all, no Content-Length

    response = await gateway.post("/v1/api-keys", headers={
        **admin, "Content-Type": "application/json"}, content=chunks())
    assert_problem(response, 413, "payload-too-large")
    small = await gateway.post("/v1/api-keys", headers={**admin, "Idempotency-Key": "chunked"},
                               json={"name": "chunked", "scopes": ["deals:read"]})
    assert small.status_code == 201


@pytest.mark.parametrize("close", ["9999-12-31", 1893456000, "2031-06-30T00:00:00",
                                   "2031-6-30", "٢٠٣١-٠٦-٣٠"])
async def test_close_dates_are_iso_and_bounded(gateway, admin, close):
    response = await gateway.post("/v1/deals", headers=admin, json={
        "partner_id": "01a20315-51b6-758f-abe1-fc0c13fa0bf9",
        "customer": {"name": "Globex", "domain": "globex.example", "country": "US"},
        "amount": {"amount": "10.00", "currency": "USD"}, "expected_close_date": close})
    body = assert_problem(response, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["expected_close_date"]


async def test_sql_errors_never_show_bound_values(gateway):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    secret = "very-secret-bound-value"
    async with gateway.app.state.sessionmaker() as session:
        with pytest.raises(DBAPIError) as raised:
            await session.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": secret})
    assert "division by zero" in str(raised.value)  # the error, without the values sent
    assert secret not in str(raised.value)
