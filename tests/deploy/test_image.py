"""deploy/Dockerfile: built from the lockfile, non-root, with migrations, without dev tools."""

from __future__ import annotations

import ast
import re

import pytest


@pytest.fixture(scope="module")
def dockerfile(repo) -> str:
    # Join continuation lines so that each instruction is one line.
    return re.sub(r"\\\n", " ", (repo / "deploy" / "Dockerfile").read_text())


def stages(dockerfile: str) -> list[str]:
    return re.split(r"(?m)^FROM\s", dockerfile)[1:]


def test_python_311_slim_base(dockerfile):
    assert re.search(r"(?m)^ARG PYTHON_IMAGE=python:3\.11-slim\s*$", dockerfile)
    runtime = stages(dockerfile)[-1]
    assert runtime.startswith("${PYTHON_IMAGE}")


def test_dependencies_come_from_the_lockfile(dockerfile):
    syncs = re.findall(r"uv sync[^\n]*", dockerfile)
    assert syncs, "no uv sync"
    for sync in syncs:
        assert "--frozen" in sync and "--no-dev" in sync, sync
    assert "uv lock" not in dockerfile and "pip install" not in dockerfile


def test_runtime_stage_is_multi_stage_and_non_root(dockerfile):
    assert len(stages(dockerfile)) >= 2
    runtime = stages(dockerfile)[-1]
    users = re.findall(r"(?m)^USER\s+(\S+)", runtime)
    assert users, "the runtime stage never drops root"
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert "uv" not in re.findall(r"(?m)^COPY --from=(\S+)", runtime), "uv stays in the build"


def test_migrations_are_in_the_image(dockerfile, repo):
    build = "".join(stages(dockerfile)[:-1])
    assert "alembic.ini" in build and "migrations" in build
    assert re.search(r"(?m)^COPY --from=build /out/services /app/services", stages(dockerfile)[-1])
    assert re.search(r"(?m)^WORKDIR /app\s*$", stages(dockerfile)[-1]), (
        "commands use services/<svc>/alembic.ini relative to /app")
    # alembic.ini finds its scripts beside itself, as the image lays them out.
    for ini in repo.glob("services/*/alembic.ini"):
        assert "script_location = %(here)s/migrations" in ini.read_text(), ini


def excluded_packages(dockerfile: str) -> set[str]:
    return set(re.findall(r"--no-install-package\s+([A-Za-z0-9_.-]+)", dockerfile))


def imported_top_levels(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_runtime_code_needs_nothing_the_image_leaves_out(dockerfile, repo):
    """The image skips the embedded Postgres/Kafka (prm-stack): no service may import them."""
    excluded = excluded_packages(dockerfile)
    assert "prm-stack" in excluded
    modules = {name.replace("-", "_") for name in excluded}
    runtime_sources = [p for src in [*repo.glob("services/*/src"), *repo.glob("libs/*/src")]
                       if src.parent.name != "stack" for p in src.rglob("*.py")]
    assert runtime_sources
    for path in runtime_sources:
        used = imported_top_levels(path) & modules
        assert not used, f"{path.relative_to(repo)} imports {used}, left out of the image"


def test_dockerignore_keeps_local_state_out(repo):
    patterns = {line.strip() for line in (repo / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "**/__pycache__"} <= patterns
    for needed in ("pyproject.toml", "uv.lock", "libs", "services"):
        assert needed not in patterns and f"!{needed}" not in patterns
