"""``python -m prm_platform.serve``: uvicorn's command line, a server loop that rests, and a
SIGTERM that still stops it gracefully at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from prm_stack.embedded import free_port

APP = '''
from fastapi import FastAPI

def create_app():
    app = FastAPI()

    @app.get("/ping")
    async def ping():
        return {"pid": __import__("os").getpid()}

    return app
'''


def _serve(tmp_path: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    (tmp_path / "serve_probe.py").write_text(APP)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "prm_platform.serve", "--factory", "serve_probe:create_app",
         "--app-dir", str(tmp_path), "--host", "127.0.0.1", "--port", str(port),
         "--timeout-graceful-shutdown", "3", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
        try:
            httpx.get(f"{url}/ping", timeout=1, trust_env=False)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not answer within 60 s")


def _voluntary_switches(pid: int) -> int:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        for line in Path(f"/proc/{pid}/task/{task}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def test_serves_with_a_fresh_date_and_rests_between_requests(tmp_path):
    process, url = _serve(tmp_path)
    try:
        first = httpx.get(f"{url}/ping", trust_env=False)
        assert first.status_code == 200 and first.json()["pid"] == process.pid
        time.sleep(2.2)
        later = httpx.get(f"{url}/ping", trust_env=False)
        assert later.headers["date"] != first.headers["date"]  # refreshed once a second
        # Idle for 3 s: the loop wakes about once a second, not ten times (uvicorn's own
        # loop made 30 or more switches here); a wide margin for the runtime's own.
        before = _voluntary_switches(process.pid)
        time.sleep(3)
        assert _voluntary_switches(process.pid) - before <= 12
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    # uvicorn re-raises the signal it caught once it has shut down gracefully.
    assert process.returncode == -signal.SIGTERM, output
    assert "Application shutdown complete" in output and "Finished server process" in output


@pytest.mark.parametrize("workers", [2])
def test_several_workers_each_serve(tmp_path, workers):
    process, url = _serve(tmp_path, "--workers", str(workers))
    try:
        seen = set()
        deadline = time.monotonic() + 30
        while len(seen) < workers and time.monotonic() < deadline:
            with httpx.Client(trust_env=False) as client:  # a new connection each time
                seen.add(client.get(f"{url}/ping").json()["pid"])
        assert len(seen) == workers
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode in (0, -signal.SIGTERM), output
