"""The edge of the running stack: a native reverse proxy routes each declared prefix straight to
its service, which checks the caller itself; the gateway serves the rest."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import httpx
import pytest

from prm_platform.security import Principal, PrincipalKind, sign_principal
from prm_stack.edge import config


def raw(port: int, request: str) -> tuple[int, dict[str, str], bytes]:
    """One request exactly as written (no client-side path normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request.encode())
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture(scope="module")
def edge(prm_stack_processes):
    stack = prm_stack_processes
    assert "edge" in stack.info["processes"], "make run puts the edge in front"
    with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False,
                      headers={"Authorization": f"Bearer {stack.admin_key}"}) as client:
        deadline = time.monotonic() + 30  # until the admin key reached every key directory
        while client.get("/v1/deals").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield client


def test_service_routes_do_not_pass_through_the_gateway(prm_stack_processes, edge):
    gateway = prm_stack_processes.pid("gateway")
    os.kill(gateway, signal.SIGSTOP)  # frozen: nothing it should serve can be answered
    try:
        assert edge.get("/v1/deals", params={"limit": 1}).status_code == 200
        assert edge.get("/v1/partners", params={"limit": 1}).status_code == 200
    finally:
        os.kill(gateway, signal.SIGCONT)
    assert edge.get("/v1/api-keys", params={"limit": 1}).status_code == 200  # the gateway's own
    assert edge.get("/openapi.json").status_code == 200
    unknown = edge.get("/v1/nothing-here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def test_only_the_gateway_can_vouch_for_a_caller(prm_stack_processes, prm_infra, edge):
    """A principal header signed with the real secret but sent by a client is stripped at the
    edge: without a key of its own the caller is unauthenticated."""
    principal = Principal(subject="intruder", kind=PrincipalKind.vendor,
                          scopes=frozenset({"admin"}))
    token = sign_principal(principal, prm_infra.internal_secret)
    with httpx.Client(base_url=prm_stack_processes.gateway_url, trust_env=False) as anonymous:
        refused = anonymous.get("/v1/deals", headers={"X-PRM-Principal": token})
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/unauthenticated"


def test_dot_segments_never_reach_another_route(prm_stack_processes, edge):
    port = prm_stack_processes.port("edge")
    key = prm_stack_processes.admin_key
    for path in ("/v1/deals/../api-keys", "/v1/deals/%2e%2e/api-keys",
                 "/v1/partners/../../openapi.json"):
        status, headers, body = raw(port, f"GET {path} HTTP/1.1\r\nHost: edge\r\n"
                                          f"Authorization: Bearer {key}\r\n"
                                          "Connection: close\r\n\r\n")
        if status == 200:  # only if the path was resolved to a route the caller may read
            document = json.loads(body)
            assert "items" in document or "openapi" in document, path
        else:
            assert status in (400, 404), (path, status)


def test_the_edge_names_each_request(prm_stack_processes, edge):
    """A request without an id of its own gets the edge's, which the service answers with
    (and logs with); the client's own id passes through."""
    named = edge.get("/v1/deals", params={"limit": 1})
    assert named.status_code == 200
    assert len(named.headers["x-request-id"]) == 36  # the edge's uuid
    own = edge.get("/v1/deals", params={"limit": 1}, headers={"X-Request-Id": "portal-7"})
    assert own.headers["x-request-id"] == "portal-7"


def test_head_is_answered_like_get_without_a_body(prm_stack_processes, edge):
    port = prm_stack_processes.port("edge")
    status, headers, body = raw(port, "HEAD /v1/deals?limit=1 HTTP/1.1\r\nHost: edge\r\n"
                                      f"Authorization: Bearer {prm_stack_processes.admin_key}"
                                      "\r\nConnection: close\r\n\r\n")
    assert status == 200 and body == b""
    assert headers["content-type"] == "application/json"


def test_an_unreachable_service_is_a_problem_document():
    routes = config(8000, 8001, {"deals": 8002}, {"deals": ["/v1/deals"]})
    server = routes["apps"]["http"]["servers"]["edge"]
    [named, no_metrics, deals, fallback] = server["routes"]
    assert named["handle"][0]["request"]["set"] == {"X-Request-Id": ["{http.request.uuid}"]}
    # /metrics is scraped from each process, never read through the edge.
    assert no_metrics["match"] == [{"path": ["/metrics"]}] and no_metrics["terminal"]
    assert no_metrics["handle"][0]["status_code"] == 404
    assert json.loads(no_metrics["handle"][0]["body"])["type"] == "/problems/not-found"
    assert deals["match"] == [{"path": ["/v1/deals", "/v1/deals/*"]}]
    assert deals["handle"][0]["upstreams"] == [{"dial": "127.0.0.1:8002"}]
    assert fallback["handle"][0]["upstreams"] == [{"dial": "127.0.0.1:8001"}]
    for route in (deals, fallback):
        assert route["handle"][0]["headers"]["request"]["delete"] == ["X-Prm-Principal"]
    [error] = server["errors"]["routes"]
    answer = error["handle"][0]
    assert answer["status_code"] == 503
    assert answer["headers"]["Content-Type"] == ["application/problem+json"]
    assert json.loads(answer["body"])["type"] == "/problems/service-unavailable"
    assert json.loads(answer["body"])["request_id"] == answer["headers"]["X-Request-Id"][0]
    assert routes["admin"]["disabled"] is True
