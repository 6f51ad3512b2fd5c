"""Forwarding ``/v1/<resource>/**`` to the service that owns the resource.

The gateway checks the coarse scope (read for GET, write otherwise); the service checks again,
together with object-level access, from the principal the gateway signs into X-PRM-Principal.
The client's Authorization header is never forwarded: services see no API key.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from prm_gateway.config import upstream_services
from prm_platform.problems import MalformedRequest, ServiceUnavailable
from prm_platform.security import PRINCIPAL_HEADER, Principal, sign_principal

log = logging.getLogger("prm.gateway.proxy")


@dataclass(frozen=True)
class Upstream:
    service: str
    read: str
    write: str


def routes() -> dict[str, Upstream]:
    """Public path prefix -> owning service and the scopes the gateway demands, from the
    services' declarations."""
    return {route.prefix: Upstream(declaration.name, route.read, route.write)
            for declaration in upstream_services() for route in declaration.routes}

# Every method goes to the owning service, which knows which it allows (its 405 says so).
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
READ_METHODS = frozenset({"GET", "HEAD"})
FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "idempotency-key", "if-match",
                             "if-none-match", "traceparent", "tracestate")
RETURNED_RESPONSE_HEADERS = ("content-type", "etag", "location", "idempotent-replayed",
                             "retry-after", "x-request-id", "allow")
# What a forwarded header value may hold: visible ASCII and spaces (RFC 9110 field values; the
# obsolete non-ASCII octets are refused rather than passed on to be misread upstream).
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")


_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def _forwarded_headers(request: Request) -> dict[str, str]:
    headers = {}
    for name in FORWARDED_REQUEST_HEADERS:
        value = request.headers.get(name)
        if value is None:
            continue
        if not _HEADER_VALUE.match(value):
            raise MalformedRequest(f"the {name} header must be printable ASCII")
        headers[name] = value
    return headers


def _upstream_path(request: Request) -> str:
    """The raw path (the client's percent-encoding kept intact, e.g. an encoded slash in an id),
    refused if a segment is ``.`` or ``..`` however it is encoded: the gateway routes by prefix
    and must never let a path climb out of it."""
    path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        raise MalformedRequest("path segments '.' and '..' are not allowed")
    return path


async def forward(request: Request, upstream: Upstream) -> Response:
    principal: Principal = request.state.principal  # set by the edge (prm_platform.edge)
    principal.require(upstream.read if request.method in READ_METHODS else upstream.write)
    app_state = request.app.state
    headers = _forwarded_headers(request)
    headers["x-request-id"] = request.state.request_id  # set by the edge
    headers[PRINCIPAL_HEADER] = sign_principal(principal, app_state.internal_secret)
    url = app_state.settings.upstreams[upstream.service] + _upstream_path(request)
    if query := request.url.query:
        url += "?" + query
    body = await request.body()  # bounded by BodySizeLimit
    if request.method == "GET" and "text/event-stream" in headers.get("accept", ""):
        return await _stream(request, upstream, url, headers)
    try:
        # HEAD is answered as GET without the body, so it works wherever GET does.
        method = "GET" if request.method == "HEAD" else request.method
        try:
            response = await app_state.http.request(method, url, headers=headers,
                                                    content=body or None)
        except _STALE_CONNECTION:
            # A pooled connection the service had closed meanwhile: the request may or may not
            # have arrived, so it is sent again only when that is safe.
            if not (method == "GET" or "idempotency-key" in headers):
                raise
            log.info("%s %s: stale connection to %s, retrying once", method,
                     request.url.path, upstream.service)
            response = await app_state.http.request(method, url, headers=headers,
                                                    content=body or None)
    except httpx.TransportError as exc:  # refused, reset, timed out, ...
        log.warning("%s %s: %s service unreachable: %r (request id %s)", request.method,
                    request.url.path, upstream.service, exc, headers["x-request-id"])
        raise ServiceUnavailable(f"the {upstream.service} service is unavailable; retry later",
                                 headers={"Retry-After": "1"}) from None
    returned = {name: value for name in RETURNED_RESPONSE_HEADERS
                if (value := response.headers.get(name)) is not None}
    returned.setdefault("x-request-id", headers["x-request-id"])
    content = b"" if request.method == "HEAD" else response.content
    return Response(content, status_code=response.status_code, headers=returned)


async def _stream(request: Request, upstream: Upstream, url: str, headers: dict[str, str]
                  ) -> Response:
    """A server-sent events stream (notifications): passed on as it comes, without a read
    timeout (the service sends a comment when it has nothing to say), closed with the
    client's connection."""
    if last_event_id := request.headers.get("last-event-id"):
        if not _HEADER_VALUE.match(last_event_id):
            raise MalformedRequest("the last-event-id header must be printable ASCII")
        headers["last-event-id"] = last_event_id
    http: httpx.AsyncClient = request.app.state.http
    timeout = httpx.Timeout(http.timeout.connect, read=None, write=http.timeout.write,
                            pool=http.timeout.pool)
    try:
        response = await http.send(http.build_request("GET", url, headers=headers,
                                                      timeout=timeout), stream=True)
    except httpx.TransportError as exc:
        log.warning("GET %s: %s service unreachable: %r (request id %s)", request.url.path,
                    upstream.service, exc, headers["x-request-id"])
        raise ServiceUnavailable(f"the {upstream.service} service is unavailable; retry later",
                                 headers={"Retry-After": "1"}) from None
    returned = {name: value for name in (*RETURNED_RESPONSE_HEADERS, "cache-control",
                                         "x-accel-buffering")
                if (value := response.headers.get(name)) is not None}
    returned.setdefault("x-request-id", headers["x-request-id"])
    return StreamingResponse(response.aiter_raw(), status_code=response.status_code,
                             headers=returned, background=BackgroundTask(response.aclose))


def install_routes(app: FastAPI) -> None:
    for prefix, upstream in routes().items():
        async def endpoint(request: Request, upstream: Upstream = upstream) -> Response:
            return await forward(request, upstream)

        for path in (prefix, prefix + "/{rest:path}"):
            app.add_route(path, endpoint, methods=METHODS, include_in_schema=False)


def upstream_mounts(upstreams: dict[str, str], transports: dict[str, httpx.AsyncBaseTransport]
                    ) -> dict[str, httpx.AsyncBaseTransport]:
    """httpx mounts that send each injected service's traffic to its own transport."""
    mounts: dict[str, httpx.AsyncBaseTransport] = {}
    for service, transport in transports.items():
        url = httpx.URL(upstreams[service])
        origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        if origin in mounts:
            raise ValueError(f"two injected transports for {origin}")
        mounts[origin] = transport
    return mounts
