import copy
import json
import re

import pytest

from prm_gateway.contract import NO_ISSUER, merge_contracts
from prm_platform.declaration import scopes_needed

from .helpers import Outage, assert_problem

PROBLEM = {"type": "object", "properties": {"type": {"type": "string"}}}


def merge(gateway_spec, service_specs, **options):
    """merge_contracts of made-up services, whose paths no declaration knows: their operations
    need the scopes ``scopes_of`` says (none by default)."""
    return merge_contracts(gateway_spec, service_specs,
                           **{"scopes_of": lambda method, path: (), **options})


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
    schemes = merged["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "http", "scheme": "bearer"}
    # Beside the API key, portal users' OIDC tokens; the committed contract names no provider.
    assert schemes["Oidc"] == {**schemes["Oidc"], "type": "openIdConnect",
                               "openIdConnectUrl": NO_ISSUER + "/.well-known/openid-configuration"}
    assert {"/v1/api-keys", "/v1/api-keys/{key_id}/revoke", "/v1/partners",
            "/v1/partners/{partner_id}"} <= set(merged["paths"])
    assert all(path.startswith("/v1/") for path in merged["paths"])
    operation_ids = []
    for path, item in merged["paths"].items():
        for method, op in item.items():
            tag = op["tags"][0].replace(" ", "-")
            assert op["operationId"].startswith(tag + "-"), (path, method)
            assert op["summary"] and op["tags"], (path, method)
            # Either credential, holding the scopes the declarations say the operation needs.
            scopes = list(scopes_needed(method, path))
            assert scopes and op["security"] == [{"ApiKey": scopes}, {"Oidc": scopes}]
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
        merge(spec(), {"a": one, "b": other})
    with pytest.raises(ValueError, match="/v1/things"):
        merge(one, {"b": other})


def test_duplicate_operation_ids_are_refused():
    with pytest.raises(ValueError, match="things-list"):
        merge(spec(), {"a": spec({"/v1/a": {"get": operation("things-list")}}),
                                 "b": spec({"/v1/b": {"get": operation("things-list")}})})


def test_schemas_are_unioned_and_conflicts_refused():
    a = spec({"/v1/a": {"get": operation("a-get")}}, {"Problem": PROBLEM, "A": {"type": "object"}})
    b = spec({"/v1/b": {"get": operation("b-get")}}, {"Problem": PROBLEM, "B": {"type": "string"}})
    merged = merge(spec(), {"b": b, "a": a})
    assert list(merged["components"]["schemas"]) == ["A", "B", "Problem"]
    assert list(merged["paths"]) == ["/v1/a", "/v1/b"]

    clash = spec({"/v1/c": {"get": operation("c-get")}}, {"Problem": {"type": "string"}})
    with pytest.raises(ValueError, match="Problem"):
        merge(spec(), {"a": a, "c": clash})


def test_internal_bits_are_removed():
    principal = {"name": "X-PRM-Principal", "in": "header", "required": True,
                 "schema": {"type": "string"}}
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer"}}
    service = spec({
        "/v1/a": {"parameters": [principal],
                  "get": operation("a-get", parameters=[principal, limit])},
        "/healthz": {"get": operation("healthz")},
    })
    merged = merge(spec(), {"a": service})
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


def test_each_operation_lists_the_scopes_it_needs_for_either_credential():
    service = spec({"/v1/things": {"get": operation("things-list"),
                                   "post": operation("things-create")},
                    "/v1/things/{id}/polish": {"post": operation("things-polish")}})
    needs = {("get", "/v1/things"): ("things:read",), ("post", "/v1/things"): ("things:write",),
             ("post", "/v1/things/{id}/polish"): ("things:write", "things:read")}
    merged = merge(spec(), {"a": service}, scopes_of=lambda method, path: needs[method, path])
    polish = merged["paths"]["/v1/things/{id}/polish"]["post"]
    assert polish["security"] == [{"ApiKey": ["things:write", "things:read"]},
                                  {"Oidc": ["things:write", "things:read"]}]
    assert merged["paths"]["/v1/things"]["get"]["security"][1] == {"Oidc": ["things:read"]}


def test_a_path_no_service_declares_is_refused():
    service = spec({"/v1/nobodys": {"get": operation("nobodys-list")}})
    with pytest.raises(ValueError, match="GET /v1/nobodys is under no declared route prefix"):
        merge_contracts(spec(), {"a": service})


def test_the_oidc_scheme_names_the_configured_provider():
    scheme = merge(spec(), {}, oidc_issuer="https://login.example.com/realms/prm/")[
        "components"]["securitySchemes"]["Oidc"]
    assert scheme["openIdConnectUrl"] == (
        "https://login.example.com/realms/prm/.well-known/openid-configuration")


async def test_the_served_contract_names_the_gateways_provider(start_gateway):
    gateway = await start_gateway(oidc_issuer="https://login.example.com",
                                  oidc_jwks_url="https://login.example.com/jwks",
                                  oidc_audience="prm-portal")
    served = (await gateway.get("/openapi.json")).json()
    assert served["components"]["securitySchemes"]["Oidc"]["openIdConnectUrl"] == (
        "https://login.example.com/.well-known/openid-configuration")
    revoke = served["paths"]["/v1/api-keys/{key_id}/revoke"]["post"]
    assert revoke["security"][1] == {"Oidc": ["api_keys:write", "api_keys:read"]}
