"""pytest plugin: one embedded PostgreSQL and one tansu broker per test session.

Set ``PRM_TEST_DATABASE_URL`` (a SQLAlchemy asyncpg URL of an empty database) and
``PRM_TEST_KAFKA_BOOTSTRAP`` to run the same suite against external servers instead.

``prm_stack_processes`` runs the whole stack as processes (``python -m prm_stack run``) on those
same servers, for cross-service tests through the gateway. Supervisor options set in the
environment (``PRM_API_WORKERS``, ``PRM_STACK_ONLY``, ...) reach it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prm_stack.launch import RunningStack, stack_in_fresh_database
from prm_stack.testing import Infra, Issuer, new_secret


@pytest.fixture(scope="session")
def prm_infra() -> Iterator[Infra]:
    external_db = os.environ.get("PRM_TEST_DATABASE_URL")
    external_kafka = os.environ.get("PRM_TEST_KAFKA_BOOTSTRAP")
    workdir = Path(tempfile.mkdtemp(prefix="prm-test-"))
    pg = broker = None
    try:
        from prm_stack.embedded import create_database, start_broker, start_postgres

        if external_db:
            database_url = external_db
        else:
            pg = start_postgres(workdir / "pgdata")
            create_database(pg, "prm_test")
            database_url = pg.database_url("prm_test")
        if external_kafka:
            bootstrap = external_kafka
        else:
            broker = start_broker(log_file=workdir / "broker.log")
            bootstrap = broker.bootstrap
        infra = Infra(database_url=database_url, kafka_bootstrap=bootstrap,
                      internal_secret=new_secret())
        previous = {k: os.environ.get(k) for k in
                    ("PRM_DATABASE_URL", "PRM_KAFKA_BOOTSTRAP", "PRM_INTERNAL_SECRET")}
        os.environ.update({"PRM_DATABASE_URL": infra.database_url,
                           "PRM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
                           "PRM_INTERNAL_SECRET": infra.internal_secret})
        yield infra
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    finally:
        if broker is not None:
            broker.stop()
        if pg is not None:
            pg.stop()
        from prm_stack.embedded import remove_data

        remove_data(workdir / "pgdata")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def prm_stack_processes(prm_infra: Infra) -> Iterator[RunningStack]:
    """The whole stack as processes, in its own database on the session's PostgreSQL and broker.

    Yields a ``RunningStack``: ``gateway_url``, ``admin_key``, ``state_dir``, ``pid(name)``,
    ``kill(name)``. Stopped with SIGTERM at the end of the session.
    """
    with stack_in_fresh_database(prm_infra.database_url, prm_infra.kafka_bootstrap,
                                 prm_infra.internal_secret, {
        # Every test of the session calls from 127.0.0.1, the fuzzer among them with bad
        # credentials on purpose: one address's failed-authentication limit would lock the
        # tests after it out. The limiter has tests of its own (gateway, test_edge).
        "PRM_FAILED_AUTH_PER_MINUTE": "1000000",
    }) as stack:
        yield stack


@pytest.fixture(scope="session")
def prm_issuer() -> Iterator[Issuer]:
    """A local OIDC identity provider (``prm_stack.testing.Issuer``) for the session: its JWKS
    on a local port, tokens for portal users (``issuer.headers(role, partner_id=...)``)."""
    issuer = Issuer()
    try:
        yield issuer
    finally:
        issuer.server.shutdown()


# Figures a test measured (a backtest's, a labelled set's), printed at the end of the run.
FIGURES = pytest.StashKey[list[tuple[str, list[str]]]]()


@pytest.fixture
def record_figures(request: pytest.FixtureRequest) -> Callable[[str, list[str]], None]:
    """``record(title, lines)``: a section of figures for the run's terminal summary."""
    def record(title: str, lines: list[str]) -> None:
        request.config.stash.setdefault(FIGURES, []).append((title, lines))
    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for title, lines in terminalreporter.config.stash.get(FIGURES, []):
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.write_line(line)
