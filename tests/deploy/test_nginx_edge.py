"""The compose edge (deploy/nginx/edge.conf) run by a real nginx: what it answers itself is a
problem document with a request id, the id reaches the service, the principal header never
does, X-Forwarded-For carries the client's address last, and server-sent events pass through
as they come. Its upstreams are pointed at local ports: the gateway's at a small echo server,
the service of a streamed path at a small event stream, the others at nothing (unreachable)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from prm_stack.embedded import free_port


class Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


# A streamed location of the generated config: its path and its upstream.
STREAMED = re.compile(r"location = (\S+) \{ proxy_pass http://(\S+); proxy_buffering off; "
                      r"proxy_read_timeout (\S+); \}")
FIRST_EVENT = b"id: 1.1\nevent: notification\ndata: {}\n\n"


class Stream(BaseHTTPRequestHandler):
    """One event at once, the next only once the test releases it (no X-Accel-Buffering: the
    edge's location alone must not hold the first back)."""

    released = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(FIRST_EVENT)
        self.wfile.flush()
        self.released.wait(10)
        self.wfile.write(b"id: 1.2\nevent: notification\ndata: {}\n\n")

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def edge(repo: Path, tmp_path_factory):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is installed by `make test` (make tools)"
    echo = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    stream = ThreadingHTTPServer(("127.0.0.1", 0), Stream)
    stream.daemon_threads = True
    threading.Thread(target=stream.serve_forever, daemon=True).start()
    dead, port = free_port(), free_port()
    conf = (repo / "deploy/nginx/edge.conf").read_text()
    conf = re.sub(r"server gateway:8000;", f"server 127.0.0.1:{echo.server_port};", conf)
    for upstream in {name for _, name, _ in STREAMED.findall(conf)}:
        conf = re.sub(rf"(upstream {upstream} +\{{ server )[a-z-]+:8000;",
                      rf"\g<1>127.0.0.1:{stream.server_port};", conf)
    conf = re.sub(r"server [a-z-]+:8000;", f"server 127.0.0.1:{dead};", conf)
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("access_log /dev/stdout prm_edge;",
                        "access_log {root}/access.log prm_edge;")
    root = tmp_path_factory.mktemp("nginx")
    (root / "edge.conf").write_text(conf.replace("{root}", str(root)))
    (root / "nginx.conf").write_text(
        f"worker_processes 1; daemon off; pid {root}/nginx.pid; error_log {root}/error.log;\n"
        f"events {{}}\nhttp {{ include {root}/edge.conf; }}\n")
    process = subprocess.Popen([nginx, "-c", str(root / "nginx.conf"), "-p", str(root)],
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
    yield port, root
    process.terminate()
    process.wait(10)
    Stream.released.set()
    echo.shutdown()
    stream.shutdown()


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def get(path: str, *headers: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "Host: edge", *headers, "Connection: close"])
            + "\r\n\r\n").encode()


def assert_problem(status: int, headers: dict, body: bytes, expected: int, slug: str) -> None:
    assert status == expected, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == f"/problems/{slug}" and problem["status"] == expected
    assert problem["request_id"] == headers["x-request-id"]


def test_what_the_edge_answers_itself_is_a_problem(edge):
    port, root = edge
    assert_problem(*exchange(port, get("/v1/deals")), 503, "service-unavailable")
    malformed = b"POST /v1/deals HTTP/1.1\r\nHost: edge\r\nContent-Length: abc\r\n\r\n"
    assert_problem(*exchange(port, malformed), 400, "malformed-request")
    huge = get("/v1/partners", "X-Big: " + "a" * 100_000)
    assert_problem(*exchange(port, huge), 400, "malformed-request")
    # Metrics are for the internal network: the gateway (answering everything else) never
    # sees a request for them.
    assert_problem(*exchange(port, get("/metrics")), 404, "not-found")
    status, headers, body = exchange(port, get("/v1/partners", "X-Request-Id: quoted-1"))
    assert status == 503
    assert json.loads(body)["request_id"] in (root / "access.log").read_text()


def test_what_reaches_the_gateway(edge):
    port, _ = edge
    status, _, body = exchange(port, get("/v1/api-keys", "X-PRM-Principal: forged",
                                         "X-Forwarded-For: 203.0.113.9",
                                         "X-Request-Id: portal-42"))
    assert status == 200
    seen = json.loads(body)
    assert seen.get("x-prm-principal", "") == ""  # stripped
    assert seen["x-request-id"] == "portal-42"
    # The client's address is the last hop: what the client wrote stays to its left.
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    status, _, body = exchange(port, get("/v1/api-keys"))
    assert re.fullmatch(r"[0-9a-f]{32}", json.loads(body)["x-request-id"])  # the edge's own


def test_server_sent_events_pass_through_as_they_come(edge, repo):
    """Every streamed path has its location (no buffering, a read timeout longer than any
    keep-alive interval), and an event reaches the client while its stream is still open."""
    port, _ = edge
    conf = (repo / "deploy/nginx/edge.conf").read_text()
    streamed = STREAMED.findall(conf)
    assert ("/v1/notifications/stream", "portal", "1h") in streamed
    for path, _, _ in streamed:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(get(path, "Accept: text/event-stream"))
            data = b""
            while FIRST_EVENT not in data:  # a buffering edge would hold it until the end
                chunk = connection.recv(65536)
                assert chunk, data
                data += chunk
            assert not Stream.released.is_set()
            assert b" 200 " in data.split(b"\r\n", 1)[0]
            assert b"content-type: text/event-stream" in data.lower()
