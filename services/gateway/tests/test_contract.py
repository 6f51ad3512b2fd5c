import copy
import json
import re

import pytest

from prm_gateway.contract import merge_contracts

from .helpers import Outage, assert_problem

PROBLEM = {"type": "object", "properties": {"type": {"type": "string"}}}


def spec(paths=None, schemas=None, **extra):
    return {"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": paths or {},
            "components": {"schemas": schemas or {}}, **extra}


def operation(op_id, **extra):
    return {"operationId": op_id, "summary": op_id, "tags": ["t"], "responses": {}, **extra}


@pytest.fixture
def real_specs(gateway, upstream_apps):
    return gateway.app.openapi(), {name: app.openapi() for name, app in upstream_apps.items()}


def test_merged_contract_of_the_real_services(real_specs):
    gateway_spec, services = real_specs
    before = copy.deepcopy(real_specs)
    merged = merge_contracts(gateway_spec, services)
    assert real_specs == before  # inputs untouched

    assert merged["openapi"] == "3.1.0"
    assert merged["info"]["title"] == "PRM API" and merged["info"]["version"]
    assert merged["info"]["description"] and merged["servers"][0]["url"]
    assert merged["components"]["securitySchemes"]["ApiKey"] == {
        **merged["components"]["securitySchemes"]["ApiKey"], "type": "http", "scheme": "bearer"}
    assert {"/v1/api-keys", "/v1/api-keys/{key_id}/revoke", "/v1/partners",
            "/v1/partners/{partner_id}"} <= set(merged["paths"])
    assert all(path.startswith("/v1/") for path in merged["paths"])
    operation_ids = []
    for path, item in merged["paths"].items():
        for method, op in item.items():
            tag = op["tags"][0].replace(" ", "-")
            assert op["operationId"].startswith(tag + "-"), (path, method)
            assert op["summary"] and op["tags"], (path, method)
            assert op["security"] == [{"ApiKey": []}]
            assert {"401", "429", "503"} <= set(op["responses"])
            operation_ids.append(op["operationId"])
    assert len(operation_ids) == len(set(operation_ids))
    assert "api-keys-create-api-key" in operation_ids
    assert "partners-create-partner" in operation_ids
    for name in ("Problem", "PartnerOut", "ApiKeyCreated"):
        assert name in merged["components"]["schemas"]
    assert [t["name"] for t in merged["tags"]] == sorted(t["name"] for t in merged["tags"])
    assert "x-prm-principal" not in json.dumps(merged).lower()

    reordered = merge_contracts(gateway_spec, dict(reversed(list(services.items()))))
    assert json.dumps(reordered) == json.dumps(merged)  # deterministic


def test_duplicate_paths_are_refused():
    one = spec({"/v1/things": {"get": operation("things-list")}})
    other = spec({"/v1/things": {"post": operation("things-create")}})
    with pytest.raises(ValueError, match="/v1/things"):
        merge_contracts(spec(), {"a": one, "b": other})
    with pytest.raises(ValueError, match="/v1/things"):
        merge_contracts(one, {"b": other})


def test_duplicate_operation_ids_are_refused():
    with pytest.raises(ValueError, match="things-list"):
        merge_contracts(spec(), {"a": spec({"/v1/a": {"get": operation("things-list")}}),
                                 "b": spec({"/v1/b": {"get": operation("things-list")}})})


def test_schemas_are_unioned_and_conflicts_refused():
    a = spec({"/v1/a": {"get": operation("a-get")}}, {"Problem": PROBLEM, "A": {"type": "object"}})
    b = spec({"/v1/b": {"get": operation("b-get")}}, {"Problem": PROBLEM, "B": {"type": "string"}})
    merged = merge_contracts(spec(), {"b": b, "a": a})
    assert list(merged["components"]["schemas"]) == ["A", "B", "Problem"]
    assert list(merged["paths"]) == ["/v1/a", "/v1/b"]

    clash = spec({"/v1/c": {"get": operation("c-get")}}, {"Problem": {"type": "string"}})
    with pytest.raises(ValueError, match="Problem"):
        merge_contracts(spec(), {"a": a, "c": clash})


def test_internal_bits_are_removed():
    principal = {"name": "X-PRM-Principal", "in": "header", "required": True,
                 "schema": {"type": "string"}}
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer"}}
    service = spec({
        "/v1/a": {"parameters": [principal],
                  "get": operation("a-get", parameters=[principal, limit])},
        "/healthz": {"get": operation("healthz")},
    })
    merged = merge_contracts(spec(), {"a": service})
    assert list(merged["paths"]) == ["/v1/a"]
    assert merged["paths"]["/v1/a"]["parameters"] == []
    assert merged["paths"]["/v1/a"]["get"]["parameters"] == [limit]


async def test_gateway_serves_the_merged_contract_and_docs(gateway, real_specs):
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    served = response.json()
    assert served["paths"].keys() == merge_contracts(*real_specs)["paths"].keys()
    for page in ("/docs", "/redoc"):
        html = await gateway.get(page)
        assert html.status_code == 200 and "/openapi.json" in html.text
        # Offline: every script, style and icon comes from the gateway itself.
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        urls += re.findall(r"""(?:url|URL)\s*:\s*["']([^"']+)["']""", html.text)
        assert urls and not [u for u in urls if "://" in u or u.startswith("//")], urls
        assets = [u for u in urls if u.startswith("/docs-assets/")]
        assert assets, urls
        for url in assets:
            assert (await gateway.get(url)).status_code == 200, url


async def test_contract_waits_for_late_upstreams(start_gateway, transports):
    partners = Outage(transports["partners"], down=True)
    gateway = await start_gateway(upstreams={**transports, "partners": partners})
    assert_problem(await gateway.get("/openapi.json"), 503, "service-unavailable")
    partners.down = False
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200 and "/v1/partners" in response.json()["paths"]
    partners.down = True  # cached now
    assert (await gateway.get("/openapi.json")).status_code == 200
