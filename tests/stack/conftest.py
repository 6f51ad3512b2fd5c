from collections.abc import Iterator

import httpx
import pytest

from prm_stack.launch import RunningStack

from .delivering import Receiver


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
