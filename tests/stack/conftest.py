from collections.abc import Iterator

import httpx
import pytest

from prm_stack.launch import RunningStack
from prm_stack.testing import Infra

from .delivering import (
    CAMPAIGN_SECRET,
    DELIVERING_SERVICES,
    MARKETPLACE_SECRET,
    Receiver,
    own_stack,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> Iterator[httpx.Client]:
    """A client of the stack's public address: the edge."""
    assert "edge" in stack.info["processes"], "make run puts the edge in front"
    with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="package")
def shared_delivering_stack(prm_infra: Infra) -> Iterator[RunningStack]:
    """One stack for the modules that deliver across services to a loopback receiver (one
    start, not one per module: each start costs half a minute of both cores)."""
    with own_stack(prm_infra, "delivering", DELIVERING_SERVICES,
                   PRM_DEALS_CAMPAIGN_SECRET=CAMPAIGN_SECRET,
                   PRM_DEALS_MARKETPLACE_SECRET=MARKETPLACE_SECRET,
                   PRM_PORTAL_HEALTH_SCORING_SECONDS="1") as running:
        yield running
