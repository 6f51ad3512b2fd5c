"""Models and migrations agree: each service's migrations, applied to an empty database, give
exactly the tables, columns, types and indexes its models (and the platform's) describe
(``alembic check``), and they downgrade to nothing and upgrade again."""

import os
import subprocess
import sys

import pytest

from prm_platform.declaration import services
from prm_stack.launch import fresh_database


def alembic(ini, *args, database_url):
    return subprocess.run([sys.executable, "-m", "alembic", "-c", str(ini), *args],
                          env={**os.environ, "PRM_DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("service", [s for s in services() if s.migrations],
                         ids=lambda s: s.name)
def test_models_and_migrations_agree(prm_infra, service):
    with fresh_database(prm_infra.database_url, prefix="prm_check") as database_url:
        upgraded = alembic(service.migrations, "upgrade", "head", database_url=database_url)
        assert upgraded.returncode == 0, upgraded.stderr
        checked = alembic(service.migrations, "check", database_url=database_url)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        down = alembic(service.migrations, "downgrade", "base", database_url=database_url)
        assert down.returncode == 0, down.stderr
        again = alembic(service.migrations, "upgrade", "head", database_url=database_url)
        assert again.returncode == 0, again.stderr
