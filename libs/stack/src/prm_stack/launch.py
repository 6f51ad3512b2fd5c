"""Run the whole stack as processes for tests, through the same code path as ``make run``.

``start_stack`` runs ``python -m prm_stack run`` in a subprocess with a private state directory
and waits until the supervisor reports the stack up (it writes ``processes.json``). The returned
``RunningStack`` knows the gateway URL, the dev admin key and every child's pid and port, so a
fault test can SIGKILL one process and watch what happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm_stack.embedded import die_with_parent, free_port
from prm_stack.supervisor import SHUTDOWN_SECONDS


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]  # the supervisor
    state_dir: Path
    output_file: Path  # the supervisor's stdout and stderr (banner included)

    @property
    def info(self) -> dict[str, Any]:
        """The supervisor's ``processes.json``: url, database_url, processes {name: pid, port}."""
        info: dict[str, Any] = json.loads((self.state_dir / "processes.json").read_text())
        return info

    @property
    def gateway_url(self) -> str:
        return str(self.info["url"])

    @property
    def admin_key(self) -> str | None:
        key_file = self.state_dir / "dev-admin-key"
        return key_file.read_text().strip() if key_file.is_file() else None

    def pid(self, name: str) -> int:
        return int(self.info["processes"][name]["pid"])

    def port(self, name: str) -> int:
        return int(self.info["processes"][name]["port"])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        os.kill(self.pid(name), sig)

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def stop(self, timeout: float = SHUTDOWN_SECONDS + 5) -> int:
        """SIGTERM the supervisor and wait for it; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()  # its children get their parent-death signal
            self.process.wait()
            raise


def start_stack(state_dir: Path, env: Mapping[str, str | None] = {},  # noqa: B006 - read only
                timeout: float = 180) -> RunningStack:
    """Start the supervisor; ``env`` overrides ``os.environ`` (``None`` removes a variable)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, "PRM_STATE_DIR": str(state_dir)}
    for key, value in env.items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    output_file = state_dir / "supervisor.out"
    with open(output_file, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "prm_stack", "run"], env=child_env,
                                   stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    stack = RunningStack(process=process, state_dir=state_dir, output_file=output_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the stack exited with code {process.returncode} while "
                               f"starting:\n{stack.output()}")
        with contextlib.suppress(OSError, ValueError, KeyError):
            if stack.info["pid"] == process.pid:  # not a stale file of a killed run
                return stack
        time.sleep(0.1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        stack.stop()
    raise RuntimeError(f"the stack did not come up within {timeout:.0f}s:\n{stack.output()}")


@contextlib.contextmanager
def running_stack(state_dir: Path, env: Mapping[str, str | None] = {},  # noqa: B006
                  ) -> Iterator[RunningStack]:
    stack = start_stack(state_dir, env)
    try:
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def stack_in_fresh_database(database_url: str, kafka_bootstrap: str, internal_secret: str,
                            env: Mapping[str, str | None] = {},  # noqa: B006 - read only
                            prefix: str = "prm-stack-") -> Iterator[RunningStack]:
    """The stack as processes, in a new database on the server of ``database_url`` (dropped
    afterwards), on ``kafka_bootstrap``, with its own state directory and entry port; ``env``
    adds to or overrides that (``PRM_STACK_ONLY``, ``PRM_TELEMETRY``, ...)."""
    state_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with fresh_database(database_url) as database, running_stack(state_dir, {
            "PRM_DATABASE_URL": database,
            "PRM_KAFKA_BOOTSTRAP": kafka_bootstrap,
            # The caller's secret, so tests can also sign principal headers for a service.
            "PRM_INTERNAL_SECRET": internal_secret,
            "PRM_GATEWAY_PORT": str(free_port()),
            **env,
        }) as stack:
            yield stack
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(database_url: str, prefix: str = "prm_stack") -> Iterator[str]:
    """A new, empty database on the server of ``database_url``; dropped afterwards."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{secrets.token_hex(4)}"

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def run(statement: str) -> None:
        # In a thread: asyncio.run would otherwise clear this thread's event loop, which
        # pytest-asyncio's session loop may still be using.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, execute(statement)).result()

    run(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
