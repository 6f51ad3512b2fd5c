"""What the one-process-per-service benchmarks (lists, leads) share: one PostgreSQL migrated
as ``make run`` does, stopping what a run started, and the line that says which machine the
figures are from."""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from attribution import migrate

from prm_stack.embedded import create_database, remove_data, start_postgres, stop_process

ROOT = Path(__file__).resolve().parents[2]


def start(name: str, services: Iterable[str]) -> tuple[Path, Any, str, str]:
    """A PostgreSQL in a new folder with database ``name``, migrated for ``services``: the
    folder, the server, the database URL and a fresh internal secret."""
    work = Path(tempfile.mkdtemp(prefix=f"prm-bench-{name}-"))
    pg = start_postgres(work / "pgdata")
    try:
        create_database(pg, name)
        url = pg.database_url(name)
        secret = secrets.token_urlsafe(32)
        for service in services:
            migrate(url, secret, ROOT / "services" / service)
    except BaseException:
        stop_all([], pg, work)
        raise
    return work, pg, url, secret


def stop_all(servers: list[subprocess.Popen[bytes]], pg: Any, work: Path) -> None:
    """The servers, then PostgreSQL; its data and the run's folder removed."""
    for server in servers:
        stop_process(server)
    pg.stop()
    remove_data(work / "pgdata")
    shutil.rmtree(work, ignore_errors=True)


def machine() -> str:
    return (f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; load average at the end "
            + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
