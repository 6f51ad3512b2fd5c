"""An outside fuzzer against the running stack: schemathesis, every phase (examples, coverage,
fuzzing, stateful), every check, through the gateway with a vendor key, from the contract the
gateway publishes. It must find no 5xx and no answer that breaks the contract.

The key holds every scope but ``api_keys:write``: with it the stateful phase would sooner or
later revoke the very key it fuzzes with, and the rest of the run would test only 401s. The
notification stream is left out: a successful call is a server-sent events stream that stays
open for minutes (its own tests, services/portal/tests/test_stream.py and tests/portal, check
it and its refusals).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES_PER_OPERATION = 25
# The coverage phase alone sends a request per boundary of every parameter: the lists' grammar
# (filters, four bounds per range, sorts, search) makes that several thousand requests.
FUZZ_SECONDS = 900


@pytest.fixture(scope="module")
def vendor_key(prm_stack_processes) -> str:
    admin = {"Authorization": f"Bearer {prm_stack_processes.admin_key}"}
    with httpx.Client(base_url=prm_stack_processes.gateway_url, trust_env=False) as api:
        scopes = api.get("/openapi.json").json()["components"]["schemas"]["Scope"]["enum"]
        wanted = [s for s in scopes if s not in ("admin", "api_keys:write")]
        created = api.post("/v1/api-keys", headers=admin,
                           json={"name": "fuzzer", "scopes": wanted})
        assert created.status_code == 201, created.text
        return created.json()["key"]


@pytest.fixture
def forget_rules(prm_stack_processes, vendor_key):
    """The fuzzer creates rules of engagement that would decide the registrations of the tests
    after it on the session's stack (one rule without conditions approves everything): they go
    once it is done."""
    yield
    auth = {"Authorization": f"Bearer {vendor_key}"}
    with httpx.Client(base_url=prm_stack_processes.gateway_url, headers=auth,
                      trust_env=False) as api:
        for rule in api.get("/v1/engagement-rules").json()["items"]:
            gone = api.delete(f"/v1/engagement-rules/{rule['id']}")
            assert gone.status_code == 204, gone.text


@pytest.mark.timeout(FUZZ_SECONDS + 60)
def test_fuzzer_finds_no_server_error_and_no_contract_violation(prm_stack_processes, vendor_key,
                                                               forget_rules, tmp_path):
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis), "--config-file", str(CONFIG), "run",
        f"{prm_stack_processes.gateway_url}/openapi.json",
        "--phases", "examples,coverage,fuzzing,stateful", "--checks", "all",
        "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "20261122",
        "--header", f"Authorization: Bearer {vendor_key}",
        "--exclude-operation-id", "api-keys-revoke-api-key",
        "--exclude-operation-id", "notifications-stream-notifications",
        "--report", "junit", "--report-dir", str(tmp_path), "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=FUZZ_SECONDS,
                            env={**os.environ, "NO_PROXY": "*"}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "API Operations:" in result.stdout and "Tested:" in result.stdout
