"""The supervisor behind ``make run`` (``python -m prm_stack run``), run as a real subprocess.

Most tests run only the partners service (``PRM_STACK_ONLY=partners``): they are about the
supervisor, not the services. The last one runs the full default stack through the gateway.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from prm_platform.security import Principal, PrincipalKind
from prm_stack.embedded import free_port, port_open, remove_data
from prm_stack.launch import RunningStack, fresh_database, start_stack
from prm_stack.supervisor import MAX_CRASHES, SHUTDOWN_SECONDS, process_table
from prm_stack.testing import principal_headers

pytestmark = pytest.mark.stack

PARTNERS_ONLY = {"PRM_STACK_ONLY": "partners"}
# What a fresh machine has: nothing configured, so the supervisor starts PostgreSQL and tansu.
NOTHING_CONFIGURED = {"PRM_DATABASE_URL": None, "PRM_KAFKA_BOOTSTRAP": None,
                      "PRM_INTERNAL_SECRET": None}
VENDOR = Principal(subject="key-stack-test", kind=PrincipalKind.vendor,
                   scopes=frozenset({"partners:read", "partners:write"}))


@pytest.fixture
def state_dir():
    # Short, because PostgreSQL's socket lives in pgdata and socket paths max out at 107 bytes.
    path = Path(tempfile.mkdtemp(prefix="prm-"))
    yield path
    remove_data(path / "pgdata")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shared_infra_env(prm_infra):
    """The session's PostgreSQL (in a database of its own) and broker, as the fixture uses."""
    with fresh_database(prm_infra.database_url) as database_url:
        yield {"PRM_DATABASE_URL": database_url, "PRM_KAFKA_BOOTSTRAP": prm_infra.kafka_bootstrap,
               "PRM_INTERNAL_SECRET": prm_infra.internal_secret, **PARTNERS_ONLY}


def run_cli(state_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prm_stack", "run"],
                          env={**os.environ, "PRM_STATE_DIR": str(state_dir), **env},
                          capture_output=True, text=True, timeout=60)


def leftovers(pids: list[int]) -> list[psutil.Process]:
    """Live processes in the children's process groups (their own forks included)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) in pids and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def assert_all_gone(snapshot: dict) -> None:
    pids = [p["pid"] for p in snapshot["processes"].values()]
    assert leftovers(pids) == []
    for name, entry in snapshot["processes"].items():
        if entry["port"]:
            assert not port_open(entry["port"]), f"{name}'s port {entry['port']} still open"


def create_partner(stack: RunningStack, secret: str, name: str) -> dict:
    url = f"http://127.0.0.1:{stack.port('partners-api')}/v1/partners"
    response = httpx.post(url, json={"name": name, "type": "msp", "country": "DE"},
                          headers=principal_headers(VENDOR, secret), trust_env=False)
    assert response.status_code == 201, response.text
    return response.json()


def test_fresh_machine_start_sigterm_and_restart_keeps_state(state_dir):
    stack = start_stack(state_dir, {**NOTHING_CONFIGURED, **PARTNERS_ONLY})
    try:
        snapshot = stack.info
        assert set(snapshot["processes"]) == {"postgres", "broker", "partners-api",
                                              "partners-worker"}
        assert snapshot["database_url"].endswith("/prm")
        secret_file = state_dir / "internal-secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        secret = secret_file.read_text().strip()
        partner = create_partner(stack, secret, "Kept GmbH")
        assert "PRM is running." in stack.output()
        assert (state_dir / "run.json").is_file()
    finally:
        code = stack.stop(timeout=SHUTDOWN_SECONDS)
    assert code == 0
    assert_all_gone(snapshot)
    assert not (state_dir / "run.json").exists() and not (state_dir / "processes.json").exists()
    for name in ("postgres", "broker", "partners-api", "partners-worker"):
        assert (state_dir / "logs" / f"{name}.log").is_file()

    # Second run on the same state: same secret, same data; two uvicorn workers this time, whose
    # forked processes must go too.
    stack = start_stack(state_dir, {**NOTHING_CONFIGURED, **PARTNERS_ONLY,
                                    "PRM_API_WORKERS": "2"})
    try:
        snapshot = stack.info
        assert secret_file.read_text().strip() == secret
        url = f"http://127.0.0.1:{stack.port('partners-api')}/v1/partners/{partner['id']}"
        got = httpx.get(url, headers=principal_headers(VENDOR, secret), trust_env=False)
        assert got.status_code == 200 and got.json()["name"] == "Kept GmbH"
    finally:
        code = stack.stop(timeout=SHUTDOWN_SECONDS)
    assert code == 0
    assert_all_gone(snapshot)


def test_second_instance_is_refused_with_a_clear_message(state_dir, shared_infra_env):
    stack = start_stack(state_dir, shared_infra_env)
    try:
        second = run_cli(state_dir, **shared_infra_env)
        assert second.returncode == 1
        pid = stack.process.pid
        assert (f"PRM is already running (pid {pid}) at {stack.gateway_url}"
                in second.stderr), second.stderr
        assert f"kill {pid}" in second.stderr
        assert "Traceback" not in second.stderr
        # The refused instance touched nothing of the running one.
        assert stack.process.poll() is None and (state_dir / "run.json").is_file()
        assert httpx.get(f"{stack.gateway_url}/healthz", trust_env=False).status_code == 200
    finally:
        assert stack.stop() == 0


def test_gateway_port_taken_by_another_program(state_dir):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        # Only the gateway: the port is checked before anything starts.
        result = run_cli(state_dir, PRM_STACK_ONLY="gateway", PRM_GATEWAY_PORT=str(port))
    assert result.returncode == 1
    assert f"port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (state_dir / "run.json").exists()


def wait_for_new_pid(stack: RunningStack, name: str, old: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = stack.pid(name)
            if pid != old and psutil.pid_exists(pid):
                return pid
        assert stack.process.poll() is None, stack.output()
        time.sleep(0.1)
    raise AssertionError(f"{name} was not restarted:\n{stack.output()}")


def test_a_crashed_worker_is_restarted_and_the_stack_stays_up(state_dir, shared_infra_env):
    stack = start_stack(state_dir, shared_infra_env)
    try:
        victim = stack.pid("partners-worker")
        stack.kill("partners-worker")
        new = wait_for_new_pid(stack, "partners-worker", victim)
        assert stack.process.poll() is None
        assert f"partners-worker (pid {victim}) exited with code -9; restarting it" in \
            stack.output()
        # The API kept answering all along, and still does.
        created = create_partner(stack, shared_infra_env["PRM_INTERNAL_SECRET"], "After")
        assert created["status"] == "onboarding"
        assert psutil.pid_exists(new)
    finally:
        snapshot = stack.info
        assert stack.stop() == 0
    assert_all_gone(snapshot)


def test_a_child_that_keeps_crashing_stops_the_stack(state_dir, shared_infra_env):
    stack = start_stack(state_dir, shared_infra_env)
    try:
        pid = stack.pid("partners-worker")
        for _ in range(MAX_CRASHES):
            os.kill(pid, signal.SIGKILL)
            pid = wait_for_new_pid(stack, "partners-worker", pid)
        snapshot = stack.info
        os.kill(pid, signal.SIGKILL)
        code = stack.process.wait(SHUTDOWN_SECONDS + 5)
    finally:
        stack.stop()
    assert code != 0
    assert f"exited unexpectedly with code -9, {MAX_CRASHES + 1} times within" in stack.output()
    assert_all_gone(snapshot)


def test_reuses_configured_database_and_broker(state_dir, shared_infra_env, prm_infra):
    stack = start_stack(state_dir, shared_infra_env)
    try:
        snapshot = stack.info
        # No PostgreSQL or broker of its own, and no data directory for one.
        assert set(snapshot["processes"]) == {"partners-api", "partners-worker"}
        assert snapshot["database_url"] == shared_infra_env["PRM_DATABASE_URL"]
        assert snapshot["kafka_bootstrap"] == prm_infra.kafka_bootstrap
        assert not (state_dir / "pgdata").exists()
        create_partner(stack, prm_infra.internal_secret, f"Reuse {uuid.uuid4().hex[:8]}")
    finally:
        assert stack.stop() == 0
    assert_all_gone(snapshot)
    # The shared servers are not the supervisor's to stop.
    host, port = prm_infra.kafka_bootstrap.rsplit(":", 1)
    assert port_open(int(port), host)


def test_full_stack_banner_key_works_through_the_gateway(prm_stack_processes):
    stack = prm_stack_processes
    # Every declared process runs, behind the edge, and nothing else.
    assert set(stack.info["processes"]) == {p.name for p in process_table()} | {"edge"}
    assert {"partners-api", "partners-worker", "deals-api", "deals-worker", "gateway",
            "gateway-worker"} <= set(stack.info["processes"])
    key = stack.admin_key
    assert key
    banner = stack.output()
    assert f"Admin key     {key}" in banner
    assert f"{stack.gateway_url}/docs" in banner and f"{stack.gateway_url}/openapi.json" in banner
    with httpx.Client(base_url=stack.gateway_url, trust_env=False) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200
        listed = client.get("/v1/partners", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200, listed.text
        assert "items" in listed.json()
        assert client.get("/v1/partners").status_code == 401


def test_failed_migration_stops_with_its_error(state_dir):
    nowhere = socket.socket()
    nowhere.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    with nowhere:
        port = nowhere.getsockname()[1]
        result = run_cli(state_dir, PRM_STACK_ONLY="partners", PRM_KAFKA_BOOTSTRAP="127.0.0.1:1",
                         PRM_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x")
    assert result.returncode == 1
    assert "migrations of partners failed" in result.stderr
    assert "ConnectionRefusedError" in result.stderr  # the cause, from alembic's own output
    assert not (state_dir / "run.json").exists()


def test_a_hung_worker_is_restarted(state_dir, shared_infra_env):
    """SIGSTOP freezes the worker without killing it: only its stale heartbeat tells."""
    stack = start_stack(state_dir, {**shared_infra_env, "PRM_STACK_STALE_SECONDS": "4"})
    try:
        heartbeat = state_dir / "heartbeats" / "partners-worker"
        # Written once every loop made progress: its consumers first join their groups, one
        # after another (five of them in the partners worker).
        deadline = time.monotonic() + 90
        while not heartbeat.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert heartbeat.exists(), "the worker reports its progress"
        victim = stack.pid("partners-worker")
        os.kill(victim, signal.SIGSTOP)
        new = wait_for_new_pid(stack, "partners-worker", victim, timeout=40)
        assert "shows no sign of progress" in stack.output()
        assert psutil.pid_exists(new) and stack.process.poll() is None
    finally:
        stack.stop()


def test_the_gateway_can_be_the_entry_instead_of_the_edge(state_dir, prm_infra):
    """PRM_STACK_EDGE=gateway: no native proxy, the gateway on the public port forwards every
    call (the topology before the edge, kept for setups without one)."""
    with fresh_database(prm_infra.database_url) as database_url:
        stack = start_stack(state_dir, {
            "PRM_DATABASE_URL": database_url, "PRM_KAFKA_BOOTSTRAP": prm_infra.kafka_bootstrap,
            "PRM_INTERNAL_SECRET": prm_infra.internal_secret, "PRM_STACK_EDGE": "gateway",
            "PRM_STACK_ONLY": "gateway,deals", "PRM_GATEWAY_PORT": str(free_port())})
        try:
            assert "edge" not in stack.info["processes"]
            assert stack.gateway_url.endswith(f":{stack.port('gateway')}")
            with httpx.Client(base_url=stack.gateway_url, trust_env=False, headers={
                    "Authorization": f"Bearer {stack.admin_key}"}) as client:
                listed = client.get("/v1/deals")
                assert listed.status_code == 200, listed.text
        finally:
            assert stack.stop() == 0


def test_an_unknown_edge_is_refused(state_dir):
    result = run_cli(state_dir, PRM_STACK_EDGE="haproxy")
    assert result.returncode != 0
    assert "PRM_STACK_EDGE='haproxy': use caddy (default) or gateway" in result.stderr
