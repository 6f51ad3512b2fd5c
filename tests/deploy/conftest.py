"""Shared helpers for the deployment checks: where the repo is, how to read commands.

These tests need neither Docker nor a cluster: they parse docker-compose.yml, deploy/Dockerfile
and deploy/k8s/*.yaml and check them against the code they are meant to run.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml  # pyyaml, a dev dependency

REPO = Path(__file__).resolve().parents[2]

# A module of ours named in a command: `prm_partners.worker`, `prm_deals.main:create_app`.
OUR_MODULE = re.compile(r"^(prm_[a-z0-9_]+(?:\.[a-z0-9_]+)*)(?::([A-Za-z_][A-Za-z0-9_]*))?$")
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash"}


def split_command(command: str | list[str] | None) -> list[list[str]]:
    """A compose/Kubernetes command as the list of argvs it runs (``sh -c 'a && b'`` -> 2)."""
    if command is None:
        return []
    argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    if len(argv) >= 3 and argv[0] in SHELLS and argv[1] == "-c":
        argvs: list[list[str]] = [[]]
        for token in shlex.split(argv[2]):
            if token in {"&&", ";", "||"}:
                argvs.append([])
            else:
                argvs[-1].append(token)
        return [a for a in argvs if a]
    return [argv]


def modules_named(argv: list[str]) -> list[tuple[str, str | None]]:
    """Our modules (and factory attribute, if any) that an argv runs or loads."""
    found = []
    for token in argv:
        match = OUR_MODULE.match(token)
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def alembic_configs(argv: list[str]) -> list[str]:
    """``python -m alembic -c services/x/alembic.ini upgrade head`` -> [services/x/alembic.ini]."""
    if "alembic" not in argv:
        return []
    return [argv[i + 1] for i, token in enumerate(argv[:-1]) if token in {"-c", "--config"}]


def module_file(module: str) -> Path | None:
    """The source file of one of our modules, looked up in services/*/src and libs/*/src."""
    parts = module.split(".")
    for src in sorted([*REPO.glob("services/*/src"), *REPO.glob("libs/*/src")]):
        base = src.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def runnable_with_dash_m(module: str) -> bool:
    """True if ``python -m module`` does something: a __main__ guard or a package __main__."""
    path = module_file(module)
    if path is None:
        return False
    if path.name == "__init__.py":
        return (path.parent / "__main__.py").is_file()
    return re.search(r"""if\s+__name__\s*==\s*["']__main__["']""", path.read_text()) is not None


def dash_m_module(argv: list[str]) -> str | None:
    """The module of ``python -m module ...``."""
    for i, token in enumerate(argv[:-1]):
        if token == "-m":
            return argv[i + 1]
    return None


def service_alembic_configs() -> set[str]:
    """Every services/<svc>/alembic.ini in the repository, relative to the repo root."""
    return {p.relative_to(REPO).as_posix() for p in REPO.glob("services/*/alembic.ini")}


@pytest.fixture(scope="session")
def declared() -> SimpleNamespace:
    """What the service declarations say must be deployed: the workloads (named as the
    supervisor names its processes), which of them are APIs, each API's upstream variable for
    the gateway, and every migration config."""
    from prm_platform.declaration import services
    from prm_stack.supervisor import process_table

    table = process_table()
    return SimpleNamespace(
        workloads={p.name for p in table},
        apis={p.name for p in table if p.kind in ("api", "gateway")},
        upstreams={f"PRM_GATEWAY_{s.name.upper()}_URL": f"{s.name}-api"
                   for s in services() if s.app and not s.edge},
        migrations={s.migrations.relative_to(REPO).as_posix()
                    for s in services() if s.migrations is not None},
    )


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def deploy() -> SimpleNamespace:
    """The helpers above, for the test modules (conftest is not importable by name)."""
    return SimpleNamespace(
        split_command=split_command, modules_named=modules_named, alembic_configs=alembic_configs,
        module_file=module_file, runnable_with_dash_m=runnable_with_dash_m,
        dash_m_module=dash_m_module, service_alembic_configs=service_alembic_configs,
    )


@pytest.fixture(scope="session")
def load_yaml() -> Callable[[Path], list[dict]]:
    def load(path: Path) -> list[dict]:
        with path.open() as fh:
            return [doc for doc in yaml.safe_load_all(fh) if doc is not None]

    return load
