"""A service added by its declaration alone is started, migrated, routed, authorised and
documented: nothing else in the repository names it.

The fixture writes a throwaway service package (``prm_echo``: a declaration, an app, a worker,
one migration) and its distribution metadata with the ``prm.services`` entry point into a
directory on ``PYTHONPATH``, exactly what installing a new workspace member produces, and starts
the whole stack with the ``make run`` supervisor.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from prm_stack.embedded import free_port
from prm_stack.launch import fresh_database, running_stack

pytestmark = pytest.mark.stack

FILES = {
    "prm_echo/__init__.py": '"""A throwaway service that answers who called it."""\n',
    "prm_echo/declaration.py": """
        from pathlib import Path

        from prm_contracts import API_KEYS_TOPIC, PARTNERS_TOPIC
        from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

        SERVICE = ServiceDeclaration(
            name="echo", schema="echo", description="Says who called it.",
            app="prm_echo.main:create_app", worker="prm_echo.worker",
            routes=(RoutePrefix("/v1/echoes", read="echoes:read", write="echoes:write"),),
            scopes=(Scope("echoes:read", "Hear the echo.", partner=True),
                    Scope("echoes:write", "Make an echo.")),
            problems={"echo-refused": "The echo service refused to answer."},
            consumes=(API_KEYS_TOPIC, PARTNERS_TOPIC),  # its key directory
            migrations=Path(__file__).parent / "alembic.ini", migration_order=90,
        )
    """,
    "prm_echo/main.py": """
        from typing import Annotated

        from fastapi import APIRouter, Depends

        from prm_platform.app import create_service_app
        from prm_platform.http import ServiceRoute
        from prm_platform.problems import ProblemError, problem_responses
        from prm_platform.security import Principal, current_principal
        from prm_platform.settings import ServiceSettings

        router = APIRouter(prefix="/v1/echoes", tags=["echoes"], route_class=ServiceRoute)
        Caller = Annotated[Principal, Depends(current_principal)]


        class EchoRefused(ProblemError):
            status, slug = 409, "echo-refused"


        @router.get("", summary="Hear the echo")
        async def hear_echo(caller: Caller) -> dict[str, str]:
            caller.require("echoes:read")
            return {"service": "echo", "caller": caller.subject}


        @router.post("/refusals", summary="Be refused", responses=problem_responses(409))
        async def refuse_echo(caller: Caller) -> dict[str, str]:
            caller.require("echoes:write")
            raise EchoRefused("no echo today")


        def create_app():
            return create_service_app(
                title="echo", description="Says who called it.", schema="echo",
                settings=ServiceSettings(), routers=[router],
                tags=[{"name": "echoes", "description": "Echoes."}])
    """,
    "prm_echo/worker.py": """
        from prm_events import credentials
        from prm_events.worker import WorkerSpec, main
        from prm_platform.settings import ServiceSettings

        if __name__ == "__main__":
            main(WorkerSpec(service="echo", schema="echo", settings=ServiceSettings(),
                            subscriptions=[credentials.subscription()]))
    """,
    "prm_echo/alembic.ini": """
        [alembic]
        script_location = %(here)s/migrations
    """,
    "prm_echo/migrations/env.py": """
        from prm_platform.credentials import credential_metadata
        from prm_platform.migrations import run_env
        from prm_platform.settings import ServiceSettings

        run_env("echo", ServiceSettings().database_url, credential_metadata)
    """,
    "prm_echo/migrations/script.py.mako": "",
    "prm_echo/migrations/versions/0001_echo.py": """
        from prm_platform.migrations import create_current_platform_tables

        revision = "0001"
        down_revision = None


        def upgrade():
            create_current_platform_tables("echo")
    """,
    "prm_echo-0.1.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: prm-echo
        Version: 0.1
    """,
    "prm_echo-0.1.dist-info/entry_points.txt": """
        [prm.services]
        echo = prm_echo.declaration:SERVICE
    """,
}


@pytest.fixture(scope="module")
def echo_stack(prm_infra):
    site = Path(tempfile.mkdtemp(prefix="prm-site-"))
    state_dir = Path(tempfile.mkdtemp(prefix="prm-"))
    for name, text in FILES.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(textwrap.dedent(text).lstrip())
    try:
        with fresh_database(prm_infra.database_url) as database_url, running_stack(state_dir, {
            "PYTHONPATH": str(site), "PRM_DATABASE_URL": database_url,
            "PRM_KAFKA_BOOTSTRAP": prm_infra.kafka_bootstrap,
            "PRM_INTERNAL_SECRET": prm_infra.internal_secret, "PRM_GATEWAY_PORT": str(free_port()),
        }) as stack:
            yield stack, database_url
    finally:
        shutil.rmtree(site, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)


def test_declared_service_is_started_routed_and_documented(echo_stack):
    stack, database_url = echo_stack
    processes = stack.info["processes"]
    assert {"echo-api", "echo-worker", "partners-api", "deals-api", "gateway"} <= set(processes)
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False) as api:
        heard = api.get("/v1/echoes", headers=admin)
        assert heard.status_code == 200, heard.text
        assert heard.json()["service"] == "echo"

        # Its scopes are grantable and enforced at the edge and in the service.
        key = api.post("/v1/api-keys", headers=admin,
                       json={"name": "echo listener", "scopes": ["echoes:read"]})
        assert key.status_code == 201, key.text
        listener = {"Authorization": f"Bearer {key.json()['key']}"}
        assert api.get("/v1/echoes", headers=listener).status_code == 200
        refused = api.post("/v1/echoes/refusals", headers=listener)
        assert refused.status_code == 403 and refused.json()["type"] == "/problems/forbidden"
        assert api.get("/v1/partners", headers=listener).status_code == 403

        # Its problem type is served and used.
        answer = api.post("/v1/echoes/refusals", headers=admin)
        assert answer.status_code == 409 and answer.json()["type"] == "/problems/echo-refused"
        assert api.get("/problems/echo-refused").json()["description"] == (
            "The echo service refused to answer.")

        # It is in the one published contract, beside the others.
        contract = api.get("/openapi.json").json()
        assert {"/v1/echoes", "/v1/echoes/refusals", "/v1/partners", "/v1/deals"} <= set(
            contract["paths"])
        assert contract["paths"]["/v1/echoes"]["get"]["operationId"] == "echoes-hear-echo"
        assert "echoes:read" in contract["components"]["schemas"]["Scope"]["enum"]

        # Its worker's liveness is part of the gateway's readiness report.
        deadline = time.monotonic() + 30
        while (workers := api.get("/readyz").json().get("workers", {})).get("echo") != "ok":
            assert time.monotonic() < deadline, workers
            time.sleep(0.2)


async def test_declared_service_was_migrated_and_its_worker_runs(echo_stack):
    stack, database_url = echo_stack
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 30
        jobs: list = []
        while time.monotonic() < deadline and not jobs:
            # The worker's scheduler records its jobs in the service's own schema.
            jobs = await connection.fetch("SELECT name FROM echo.scheduled_jobs")
            await asyncio.sleep(0.2)
        assert "purge-idempotency-keys" in {row["name"] for row in jobs}
    finally:
        await connection.close()
