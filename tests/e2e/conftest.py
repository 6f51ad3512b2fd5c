"""What every end-to-end test uses: a client of the stack's public address and the admin key."""

import httpx
import pytest


@pytest.fixture(scope="module")
def api(prm_stack_processes):
    with httpx.Client(base_url=prm_stack_processes.gateway_url, timeout=30,
                      trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def admin(prm_stack_processes):
    return {"Authorization": f"Bearer {prm_stack_processes.admin_key}"}
