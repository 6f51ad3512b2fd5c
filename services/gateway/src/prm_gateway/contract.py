"""The single OpenAPI 3.1 contract: the gateway's own operations plus every service's.

``merge_contracts`` is pure and deterministic, so the same function writes the committed
``openapi/openapi.json`` and serves ``/openapi.json`` at run time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import fastapi_standalone_docs
import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from prm_platform.declaration import scopes_needed
from prm_platform.problems import PROBLEM_MEDIA_TYPE, ServiceUnavailable, problem_description
from prm_platform.security import PRINCIPAL_HEADER

log = logging.getLogger("prm.gateway.contract")

TITLE = "PRM API"
DESCRIPTION = (
    "Headless Partner Relationship Management: partner organisations, deal registration and "
    "API keys, through one gateway. Authenticate with an API key "
    "(`Authorization: Bearer prm_...`) or a portal user's OpenID Connect token; each operation "
    "lists the scopes it needs, which a key holds or a user's roles give. Errors are RFC 9457 "
    "problem details whose `type` is "
    "described at `/problems/<slug>`; POSTs accept an `Idempotency-Key`; updates and actions "
    "accept `If-Match`."
)
SECURITY_SCHEME = "ApiKey"
OIDC_SCHEME = "Oidc"
# The committed contract names no identity provider (a reserved, never resolving name); the
# contract a gateway serves names the one it is configured with (PRM_OIDC_ISSUER).
NO_ISSUER = "https://identity-provider.invalid"
DISCOVERY_PATH = "/.well-known/openid-configuration"
ScopesOf = Callable[[str, str], Sequence[str]]
PUBLIC_PREFIX = "/v1"
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_INTERNAL_HEADERS = frozenset({PRINCIPAL_HEADER})
_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
# What the gateway itself may answer on any operation, besides what the services declare.
_GATEWAY_RESPONSES = {status: {"description": problem_description(int(status)),
                               "content": _PROBLEM}
                      for status in ("401", "429", "503")}
# The problem answers every operation shares, each once in ``components/responses`` and
# referenced by status (a generator then makes one type of each, not one per operation).
PROBLEM_RESPONSES = {
    "400": "MalformedRequest",
    "401": "Unauthenticated",
    "403": "Forbidden",
    "404": "NotFound",
    "405": "MethodNotAllowed",
    "409": "Conflict",
    "412": "PreconditionFailed",
    "413": "PayloadTooLarge",
    "415": "UnsupportedMediaType",
    "422": "ValidationFailed",
    "429": "RateLimited",
    "500": "InternalError",
    "503": "ServiceUnavailable",
}


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


_SECONDS = {"type": "integer", "minimum": 0}
# Headers the edge sends on every /v1 answer.
_EDGE_HEADERS = {
    "X-Request-Id": _header("Identifies the request in every log line; send your own to "
                            "correlate."),
    "RateLimit-Limit": _header("Requests allowed per minute for these credentials.", _SECONDS),
    "RateLimit-Remaining": _header("Requests left in the current window.", _SECONDS),
    "RateLimit-Reset": _header("Seconds until the full allowance is back.", _SECONDS),
}
_RETRY_AFTER = {"Retry-After": _header("Seconds to wait before retrying.", _SECONDS)}
# One value: a const (an enum of one would be an inline enum, a type of its own in a client).
_REPLAYED = {"Idempotent-Replayed": _header(
    "`true` when this is the stored response of an earlier request with the same "
    "Idempotency-Key.", {"type": "string", "const": "true"})}
# The headers above, each once in ``components/headers``, referenced by every answer.
SHARED_HEADERS = {**_EDGE_HEADERS, **_RETRY_AFTER, **_REPLAYED}
LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
CONTACT = {"name": "PRM maintainers"}


def _header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _declare_headers(operation: dict[str, Any], responses: dict[str, Any]) -> None:
    """Declare the headers every answer may carry (the edge's, Retry-After on the statuses
    that send it, Idempotent-Replayed where an Idempotency-Key is accepted), and keep problem
    answers under application/problem+json only."""
    idempotent = any(p.get("in") == "header" and p.get("name", "").lower() == "idempotency-key"
                     for p in operation.get("parameters", []))
    for status, response in responses.items():
        if "$ref" in response:
            continue
        headers = response.setdefault("headers", {})
        for name in _EDGE_HEADERS:
            headers.setdefault(name, _header_ref(name))
        if status in ("409", "429", "503"):
            headers.setdefault("Retry-After", _header_ref("Retry-After"))
        if idempotent and status.startswith("2"):
            headers.setdefault("Idempotent-Replayed", _header_ref("Idempotent-Replayed"))
        content = response.get("content", {})
        if status[0] in "45" and PROBLEM_MEDIA_TYPE in content:
            content.pop("application/json", None)


def problem_response(status: str) -> dict[str, Any]:
    """The shared problem answer of ``status`` (``components/responses``)."""
    response = {"description": problem_description(int(status)),
                "content": copy.deepcopy(_PROBLEM)}
    _declare_headers({}, {status: response})
    return response


def _share_problems(responses: dict[str, Any], shared: dict[str, Any]) -> None:
    """Replace each problem answer that is the shared one of its status by a reference to it
    (keeping its own description, if it words the status its own way), and note in ``shared``
    the components referenced."""
    for status, response in responses.items():
        name = PROBLEM_RESPONSES.get(status)
        if name is None or "$ref" in response:
            continue
        common = problem_response(status)
        if {k: v for k, v in response.items() if k != "description"} != \
                {k: v for k, v in common.items() if k != "description"}:
            continue
        responses[status] = {"$ref": f"#/components/responses/{name}"}
        if response.get("description", common["description"]) != common["description"]:
            responses[status]["description"] = response["description"]
        shared[name] = common


def _public(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in parameters
            if not (p.get("in") == "header" and p.get("name", "").lower() in _INTERNAL_HEADERS)]


def _methods(path_item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(method, op) for method, op in path_item.items() if method in _HTTP_METHODS]


def _security_schemes(oidc_issuer: str | None) -> dict[str, Any]:
    issuer = (oidc_issuer or NO_ISSUER).rstrip("/")
    return {
        SECURITY_SCHEME: {
            "type": "http", "scheme": "bearer",
            "description": "An API key, `prm_` followed by 43 characters, created with "
                           "POST /v1/api-keys. It holds the scopes it was created with; each "
                           "operation lists those it needs.",
        },
        OIDC_SCHEME: {
            "type": "openIdConnect", "openIdConnectUrl": issuer + DISCOVERY_PATH,
            "description": "A portal user's token from the vendor's identity provider, sent "
                           "as `Authorization: Bearer <JWT>` (RS256 or ES256). The user's "
                           "roles (the `roles` claim) give the scopes each operation lists, "
                           "as the services declare them (docs/roles.md); a token with the "
                           "partner claim (`prm_partner_id`) is a partner user of that org, "
                           "whose partner roles count. The provider is the gateway's "
                           "`PRM_OIDC_ISSUER`; the contract the gateway serves names it.",
        },
    }


def _declared_scopes(method: str, path: str) -> Sequence[str]:
    try:
        return scopes_needed(method, path)
    except KeyError:
        raise ValueError(f"{method.upper()} {path} is under no declared route prefix") from None


def merge_contracts(gateway_spec: dict, service_specs: dict[str, dict], *,
                    scopes_of: ScopesOf = _declared_scopes,
                    oidc_issuer: str | None = None) -> dict:
    """Merge the gateway's and the services' OpenAPI documents into the public contract.

    Only ``/v1`` paths are published; a path or operationId defined twice, or a component
    (schema, ...) defined twice with different content, is a ValueError. Headers only the
    gateway may send (X-PRM-Principal) are removed; every operation gets the gateway's own
    error responses, the headers the edge sends (each a ``components/headers`` entry) and its
    problem answers as references to ``components/responses`` (one per status, e.g.
    ``NotFound``; an operation that words a status its own way keeps its description beside
    the reference), and its security requirements: an API key or an OIDC token, either
    holding the scopes ``scopes_of(method, path)`` names (by default what the declarations
    say: the route prefix's read or write scope and the service's ``operation_scopes``).
    ``oidc_issuer`` is the identity provider the OIDC scheme names. Inputs are not modified;
    the output has sorted paths and components, so equal inputs give byte-identical JSON.
    """
    sources = [("gateway", gateway_spec), *sorted(service_specs.items())]
    paths: dict[str, Any] = {}
    path_owner: dict[str, str] = {}
    operation_owner: dict[str, str] = {}
    components: dict[str, dict[str, Any]] = {}
    shared_responses: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    for origin, spec in sources:
        for path, item in spec.get("paths", {}).items():
            if not (path == PUBLIC_PREFIX or path.startswith(PUBLIC_PREFIX + "/")):
                continue
            if path in paths:
                raise ValueError(f"path {path} is defined by {path_owner[path]} and {origin}")
            item = copy.deepcopy(item)
            if "parameters" in item:
                item["parameters"] = _public(item["parameters"])
            for method, operation in _methods(item):
                op_id = operation.get("operationId")
                if op_id in operation_owner:
                    raise ValueError(f"operationId {op_id} is defined by "
                                     f"{operation_owner[op_id]} and {origin}")
                if op_id:
                    operation_owner[op_id] = origin
                if "parameters" in operation:
                    operation["parameters"] = _public(operation["parameters"])
                scopes = list(scopes_of(method, path))
                operation["security"] = [{SECURITY_SCHEME: scopes}, {OIDC_SCHEME: scopes}]
                responses = operation.setdefault("responses", {})
                for status, response in _GATEWAY_RESPONSES.items():
                    responses.setdefault(status, copy.deepcopy(response))
                _declare_headers(operation, responses)
                _share_problems(responses, shared_responses)
            paths[path], path_owner[path] = item, origin
        for section, entries in spec.get("components", {}).items():
            merged = components.setdefault(section, {})
            for name, value in entries.items():
                if section == "parameters" and not _public([value]):
                    continue
                if name in merged and merged[name] != value:
                    raise ValueError(f"components.{section}.{name} differs between services "
                                     f"(conflict found in {origin})")
                merged[name] = copy.deepcopy(value)
        for tag in spec.get("tags", []):
            tags.setdefault(tag["name"], copy.deepcopy(tag))
    components.setdefault("securitySchemes", {}).update(_security_schemes(oidc_issuer))
    for name, response in shared_responses.items():
        if components.setdefault("responses", {}).setdefault(name, response) != response:
            raise ValueError(f"components.responses.{name} is defined by a service as well")
    referenced = json.dumps([paths, shared_responses])
    for name, header in SHARED_HEADERS.items():
        if f'"#/components/headers/{name}"' not in referenced:
            continue
        if components.setdefault("headers", {}).setdefault(name, copy.deepcopy(header)) != header:
            raise ValueError(f"components.headers.{name} is defined by a service as well")
    info = copy.deepcopy(gateway_spec.get("info") or {})
    info.setdefault("version", "1.0.0")
    info.update(title=TITLE, description=info.get("description") or DESCRIPTION,
                license=LICENSE, contact=CONTACT)
    return {
        "openapi": "3.1.0",
        "info": info,
        "servers": copy.deepcopy(gateway_spec.get("servers")) or [
            {"url": "/", "description": "The gateway that serves this document"}],
        "tags": [tags[name] for name in sorted(tags)],
        "paths": dict(sorted(paths.items())),
        "components": {section: dict(sorted(entries.items()))
                       for section, entries in sorted(components.items())},
    }


class ContractSource:
    """Fetches the services' contracts and caches the merged one.

    Until every service has answered, nothing is cached and /openapi.json is a 503, so a
    service that starts after the gateway is picked up on the next request; a half contract is
    never served. After ``ttl`` seconds it is rebuilt; if a service is down then, the previous
    contract is kept.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._contract: dict[str, Any] | None = None
        self._built = 0.0
        self._lock = asyncio.Lock()

    async def get(self, app: FastAPI) -> dict[str, Any]:
        if self._contract is not None and time.monotonic() - self._built < self.ttl:
            return self._contract
        async with self._lock:  # one rebuild at a time, however many requests wait
            if self._contract is None or time.monotonic() - self._built >= self.ttl:
                try:
                    self._contract = merge_contracts(
                        app.openapi(), await _fetch_all(app),
                        oidc_issuer=app.state.settings.oidc_issuer)
                    self._built = time.monotonic()
                except ServiceUnavailable:
                    if self._contract is None:
                        raise
        return self._contract


async def _fetch_all(app: FastAPI) -> dict[str, dict]:
    upstreams = app.state.settings.upstreams
    results = await asyncio.gather(*(_fetch(app.state.http, url) for url in upstreams.values()),
                                   return_exceptions=True)
    failed = [name for name, result in zip(upstreams, results, strict=True)
              if isinstance(result, Exception)]
    if failed:
        raise ServiceUnavailable(f"the contract of {', '.join(failed)} is not available yet; "
                                 "retry", headers={"Retry-After": "2"})
    return dict(zip(upstreams, results, strict=True))


async def _fetch(client: httpx.AsyncClient, base_url: str) -> dict:
    try:
        response = await client.get(base_url + "/openapi.json")
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("cannot fetch the contract from %s: %r", base_url, exc)
        raise


router = APIRouter(include_in_schema=False)

# Swagger UI and ReDoc from a package's files, never a CDN: the docs work offline and load
# nothing from third parties.
DOCS_ASSETS = "/docs-assets"
_ASSETS = Path(fastapi_standalone_docs.__file__).parent / "static"


def mount_docs_assets(app: FastAPI) -> None:
    app.mount(DOCS_ASSETS, StaticFiles(directory=_ASSETS), name="docs-assets")


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(await request.app.state.contract.get(request.app))


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title=f"{TITLE} - Swagger UI",
        swagger_js_url=f"{DOCS_ASSETS}/swagger/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/fastapi/favicon.png")


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json", title=f"{TITLE} - ReDoc",
        redoc_js_url=f"{DOCS_ASSETS}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{DOCS_ASSETS}/fastapi/favicon.png", with_google_fonts=False)
