import os
import stat
import subprocess
import sys

import pytest
from sqlalchemy import text

from prm_gateway.bootstrap import ensure_admin_key
from prm_gateway.config import Settings


def bootstrap(prm_infra, path) -> str:
    result = subprocess.run([sys.executable, "-m", "prm_gateway.bootstrap", "--write", str(path)],
                            env=prm_infra.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def key_file(tmp_path):
    return tmp_path / "secrets" / "admin-key"


async def test_bootstrap_keeps_a_valid_key_and_replaces_a_revoked_one(
        prm_infra, migrated, engines, key_file):
    key = bootstrap(prm_infra, key_file)
    assert key.startswith("prm_")
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

    saved = []
    assert await ensure_admin_key(Settings(), key, saved.append) == key
    assert saved == []
    async with engines["gateway"].begin() as connection:
        row = (await connection.execute(text(
            "SELECT name, kind, scopes FROM api_keys WHERE prefix = :p"), {"p": key[:12]})).one()
        assert tuple(row) == ("dev-admin", "vendor", ["admin"])
        await connection.execute(text("UPDATE api_keys SET revoked_at = now() WHERE prefix = :p"),
                                 {"p": key[:12]})
    replaced = await ensure_admin_key(Settings(), key, saved.append)
    assert replaced != key and saved == [replaced]
